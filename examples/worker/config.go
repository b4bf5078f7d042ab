package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/flaghelp"
	"github.com/redis/go-redis/v9"
)

// Defaults of the settings that have one.
const (
	redisURLDefault   = "redis://127.0.0.1:6379/0"
	patternDefault    = `^{queue}(\.|$)`
	healthAddrDefault = ":8081"
	// noRegister, as the pattern, leaves queue registration to someone else.
	noRegister = "-"
	// healthOff, as the health address, serves no health endpoint.
	healthOff = "off"
)

// config is the worker's configuration, from flags whose defaults come from
// the environment.
type config struct {
	redis           *redis.Options
	namespace       string
	queues          map[string]int    // queue -> weight
	routes          map[string]string // queue -> pattern, from -routes
	pattern         string            // template with {queue}, or noRegister
	patternSet      bool              // -pattern was given (flag or environment), not defaulted
	concurrency     int
	shutdownTimeout time.Duration
	lease           time.Duration
	healthAddr      string
	workTime        time.Duration
	recordKey       string
	logLevel        slog.Level
}

// parseConfig reads the flags in args; each flag's default is taken from its
// environment variable when that is set.
func parseConfig(args []string, env func(string) string, usage io.Writer) (config, error) {
	var c config
	var redisURL, queues, routes, level string
	fs := flag.NewFlagSet("fairway-worker", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(usage, "Usage of fairway-worker (each flag's default comes from its environment variable when set):\n")
		flaghelp.PrintAll(usage, fs)
	}
	e := envFlags{fs: fs, env: env}
	e.str(&redisURL, "redis", "REDIS_URL", redisURLDefault, "Redis URL: redis://[user:password@]host:port/db, or rediss:// for TLS")
	fs.Var(aliasOf{fs.Lookup("redis")}, "redis-url", "the old name of --redis")
	e.str(&c.namespace, "namespace", "FAIRWAY_NAMESPACE", broker.NamespaceDefault, "key and channel prefix")
	e.str(&queues, "queues", "FAIRWAY_QUEUES", "", `queues to serve with their weights, "emails=2,reports=1" (weight defaults to 1); required`)
	e.str(&routes, "routes", "FAIRWAY_ROUTES", "", `topic patterns of queues, "emails=^email\.;reports=^report\." (separated by ";"): each is registered at start and again if Redis loses it; a queue with another pattern stops the worker`)
	e.str(&c.pattern, "pattern", "FAIRWAY_PATTERN", patternDefault, `topic pattern of the queues --routes leaves out, {queue} standing for the queue's name: given, each is registered with it at start; left at its default, only a queue that does not exist yet is; "-" registers nothing`)
	e.int(&c.concurrency, "concurrency", "FAIRWAY_CONCURRENCY", 10, "handlers running at once")
	e.duration(&c.shutdownTimeout, "shutdown-timeout", "FAIRWAY_SHUTDOWN_TIMEOUT", 25*time.Second, "how long running handlers may finish after SIGTERM; keep it under the supervisor's grace period")
	e.duration(&c.lease, "lease", "FAIRWAY_LEASE", broker.LeaseDurationDefault, "how long a pulled message stays leased; the worker extends it while the handler runs")
	e.str(&c.healthAddr, "health-addr", "FAIRWAY_HEALTH_ADDR", healthAddrDefault, `listen address of /healthz and /readyz; "off" serves none`)
	e.duration(&c.workTime, "work-time", "FAIRWAY_WORK_TIME", 0, "how long the demo handler works on each message")
	e.str(&c.recordKey, "record-key", "FAIRWAY_RECORD_KEY", "", "if set, the demo handler counts each handled message ID in this Redis hash")
	e.str(&level, "log-level", "FAIRWAY_LOG_LEVEL", "info", "debug, info, warn or error")
	if err := errors.Join(e.errs...); err != nil {
		return config{}, err
	}
	// -h prints defaults: never the password of a REDIS_URL from the
	// environment.
	fs.Lookup("redis").DefValue = flaghelp.RedactURL(redisURL)
	fs.Lookup("redis-url").DefValue = ""
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	c.patternSet = env("FAIRWAY_PATTERN") != ""
	fs.Visit(func(f *flag.Flag) { c.patternSet = c.patternSet || f.Name == "pattern" })
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, c.finish(redisURL, queues, routes, level)
}

// finish parses and checks what the flag package cannot.
func (c *config) finish(redisURL, queues, routes, level string) error {
	var err error
	if c.redis, err = redis.ParseURL(redisURL); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = flaghelp.RedactURL(ue.URL) // it may hold a password
		}
		return fmt.Errorf("REDIS_URL / --redis: %w", err)
	}
	if c.queues, err = parseQueues(queues); err != nil {
		return fmt.Errorf("FAIRWAY_QUEUES / --queues: %w", err)
	}
	if c.routes, err = parseRoutes(routes, c.queues); err != nil {
		return fmt.Errorf("FAIRWAY_ROUTES / --routes: %w", err)
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("FAIRWAY_LOG_LEVEL / --log-level: %w", err)
	}
	switch {
	case c.concurrency < 1:
		return fmt.Errorf("FAIRWAY_CONCURRENCY / --concurrency: %d is below 1", c.concurrency)
	case c.shutdownTimeout < 0:
		return fmt.Errorf("FAIRWAY_SHUTDOWN_TIMEOUT / --shutdown-timeout: %v is negative", c.shutdownTimeout)
	case c.lease < 10*time.Millisecond:
		return fmt.Errorf("FAIRWAY_LEASE / --lease: %v is below 10ms", c.lease)
	case c.workTime < 0:
		return fmt.Errorf("FAIRWAY_WORK_TIME / --work-time: %v is negative", c.workTime)
	case c.healthAddr == "":
		return fmt.Errorf(`FAIRWAY_HEALTH_ADDR / --health-addr: empty; use "off" to serve no health endpoint`)
	}
	for _, q := range slices.Sorted(maps.Keys(c.queues)) {
		if _, err := c.patternOf(q); err != nil {
			return fmt.Errorf("FAIRWAY_PATTERN / --pattern: %w", err)
		}
	}
	return nil
}

// patternOf is the topic pattern queue is registered with: its route, else
// -pattern's template filled in.
func (c *config) patternOf(queue string) (string, error) {
	if p, ok := c.routes[queue]; ok {
		return p, nil
	}
	p := strings.ReplaceAll(c.pattern, "{queue}", regexp.QuoteMeta(queue))
	if _, err := regexp.Compile(p); err != nil {
		return "", fmt.Errorf("queue %q: %w", queue, err)
	}
	return p, nil
}

// toldRoutes are the patterns the worker was told, by -routes or a -pattern
// given: the worker registers those queues again if Redis loses them.
func (c *config) toldRoutes() map[string]string {
	routes := make(map[string]string)
	for q := range c.queues {
		_, routed := c.routes[q]
		if !routed && (!c.patternSet || c.pattern == noRegister) {
			continue
		}
		if p, err := c.patternOf(q); err == nil {
			routes[q] = p
		}
	}
	return routes
}

// parseQueues parses "emails=2,reports" into queue -> weight.
func parseQueues(s string) (map[string]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New(`no queue given: set it to a list such as "emails=2,reports=1"`)
	}
	queues := make(map[string]int)
	for item := range strings.SplitSeq(s, ",") {
		name, weight, hasWeight := strings.Cut(strings.TrimSpace(item), "=")
		name = strings.TrimSpace(name)
		if err := broker.ValidateQueueName(name); err != nil {
			return nil, err
		}
		if _, dup := queues[name]; dup {
			return nil, fmt.Errorf("queue %q is listed twice", name)
		}
		w := 1
		if hasWeight {
			var err error
			if w, err = strconv.Atoi(strings.TrimSpace(weight)); err != nil || w < 1 {
				return nil, fmt.Errorf("queue %q: weight %q is not a whole number of at least 1", name, weight)
			}
		}
		queues[name] = w
	}
	return queues, nil
}

// parseRoutes parses "emails=^email\.;reports=^report\." into queue ->
// pattern; every queue must be one of queues.
func parseRoutes(s string, queues map[string]int) (map[string]string, error) {
	routes := make(map[string]string)
	for item := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		name, pattern, ok := strings.Cut(strings.TrimSpace(item), "=")
		name, pattern = strings.TrimSpace(name), strings.TrimSpace(pattern)
		switch {
		case !ok || pattern == "":
			return nil, fmt.Errorf("%q is not QUEUE=PATTERN", item)
		case queues[name] == 0:
			return nil, fmt.Errorf("queue %q is not in FAIRWAY_QUEUES / --queues", name)
		}
		if _, dup := routes[name]; dup {
			return nil, fmt.Errorf("queue %q is listed twice", name)
		}
		if _, err := regexp.Compile(pattern); err != nil {
			return nil, fmt.Errorf("queue %q: %w", name, err)
		}
		routes[name] = pattern
	}
	return routes, nil
}

// aliasOf is a flag that sets another one: an old name kept working.
type aliasOf struct{ f *flag.Flag }

func (a aliasOf) String() string {
	if a.f == nil {
		return ""
	}
	return a.f.Value.String()
}

func (a aliasOf) Set(v string) error { return a.f.Value.Set(v) }

// envFlags defines flags whose defaults come from environment variables,
// collecting the errors of variables that do not parse.
type envFlags struct {
	fs   *flag.FlagSet
	env  func(string) string
	errs []error
}

func (e *envFlags) str(p *string, name, key, def, usage string) {
	if v := e.env(key); v != "" {
		def = v
	}
	e.fs.StringVar(p, name, def, usage+" (env "+key+")")
}

func (e *envFlags) int(p *int, name, key string, def int, usage string) {
	if v := e.env(key); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: %q is not a whole number", key, v))
		}
		def = n
	}
	e.fs.IntVar(p, name, def, usage+" (env "+key+")")
}

func (e *envFlags) duration(p *time.Duration, name, key string, def time.Duration, usage string) {
	if v := e.env(key); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: %q is not a duration such as 25s or 500ms", key, v))
		}
		def = d
	}
	e.fs.DurationVar(p, name, def, usage+" (env "+key+")")
}
