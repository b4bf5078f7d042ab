package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/flaghelp"
	"github.com/redis/go-redis/v9"
)

// app holds the global flags and the connection of one run.
type app struct {
	env       Env
	redisURL  string
	namespace string
	json      bool
	timeout   time.Duration

	rdb *redis.Client
	b   *broker.Broker
}

func (a *app) globalFlags(fs *flag.FlagSet) {
	getenv := a.env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	fs.StringVar(&a.redisURL, "redis", cmp.Or(getenv("REDIS_URL"), "redis://127.0.0.1:6379/0"),
		"Redis `URL`: redis://[:PASSWORD@]HOST:PORT/DB, rediss:// for TLS ($REDIS_URL)")
	fs.StringVar(&a.namespace, "namespace", cmp.Or(getenv("FAIRWAY_NAMESPACE"), broker.NamespaceDefault),
		"key namespace `NS` of the application ($FAIRWAY_NAMESPACE)")
	fs.BoolVar(&a.json, "json", false, "print JSON instead of tables, and errors as JSON on stderr")
	fs.DurationVar(&a.timeout, "timeout", 10*time.Second, "give up on Redis after this long")
}

// checkGlobalFlags refuses values of the global flags that make no sense,
// before anything connects: --timeout 0s would give up on Redis before
// asking it anything, and be reported as an unreachable Redis.
func (a *app) checkGlobalFlags() error {
	if a.timeout <= 0 {
		return usageError{fmt.Sprintf("--timeout %v: want a positive duration, such as 10s", a.timeout)}
	}
	return nil
}

// flagInRange refuses the value v of a flag outside [lo, hi].
func flagInRange(name string, v, lo, hi int) error {
	return inRange("--"+name, v, lo, hi)
}

// argInRange parses the positional argument s, what it is, as a whole
// number in [lo, hi].
func argInRange(what, s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, usageError{fmt.Sprintf("%s %q is not a whole number", what, s)}
	}
	return n, inRange(what, n, lo, hi)
}

// inRange refuses v, what it is, outside [lo, hi]; hi may be math.MaxInt.
func inRange(what string, v, lo, hi int) error {
	switch {
	case v >= lo && v <= hi:
		return nil
	case hi < math.MaxInt:
		return usageError{fmt.Sprintf("%s %d is outside [%d, %d]", what, v, lo, hi)}
	case lo == 0:
		return usageError{fmt.Sprintf("%s %d is negative", what, v)}
	}
	return usageError{fmt.Sprintf("%s %d is below %d", what, v, lo)}
}

// broker connects to Redis, checks that it answers, and returns the broker.
func (a *app) broker(ctx context.Context) (*broker.Broker, error) {
	if a.b != nil {
		return a.b, nil
	}
	opts, err := redis.ParseURL(a.redisURL)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), a.redisURL, flaghelp.RedactURL(a.redisURL))
		return nil, usageError{fmt.Sprintf("bad --redis URL: %s; want redis://[:PASSWORD@]HOST:PORT/DB or rediss://...", msg)}
	}
	opts.MaxRetries = 1
	opts.DialTimeout = min(a.timeout, 5*time.Second)
	a.rdb = redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if err := a.rdb.Ping(pingCtx).Err(); err != nil {
		var re redis.Error
		if errors.As(err, &re) { // it answered: reachable, but it refuses
			return nil, serverError{addr: opts.Addr, err: err}
		}
		return nil, unavailableError{addr: opts.Addr, err: err}
	}
	b, err := broker.New(a.rdb, broker.Config{Namespace: a.namespace})
	if err != nil {
		return nil, usageError{fmt.Sprintf("bad --namespace %q: use 1 to 64 of [A-Za-z0-9._-]", a.namespace)}
	}
	a.b = b
	a.warnServer(ctx)
	return b, nil
}

// warnServer prints, on stderr, what broker.CheckServer finds that may lose
// messages (a Redis that may evict keys), before any command's output, so
// that no operator misses it. A check that fails to run says nothing: the
// command reports the connection's errors itself.
func (a *app) warnServer(ctx context.Context) {
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	rep, _ := a.b.CheckServer(ctx)
	for _, p := range rep.Problems {
		if a.json {
			_ = json.NewEncoder(a.env.Stderr).Encode(warningJSON{Warning: warningBody{Code: codeMayEvict, Message: p}})
			continue
		}
		printf(a.env.Stderr, "fairway: warning: %s\n", p)
	}
}

// brokerOp connects as broker does and returns a context bounding the
// operation that follows by --timeout; call cancel when done.
func (a *app) brokerOp(ctx context.Context) (*broker.Broker, context.Context, context.CancelFunc, error) {
	b, err := a.broker(ctx)
	if err != nil {
		return nil, ctx, func() {}, err
	}
	ctx, cancel := a.opCtx(ctx)
	return b, ctx, cancel, nil
}

// opCtx bounds one Redis operation by --timeout.
func (a *app) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

func (a *app) close() {
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
}

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned in columns.
func (a *app) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	printf(tw, "%s\n", strings.ReplaceAll(header, " ", "\t"))
	for _, r := range rows {
		printf(tw, "%s\n", strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// say prints a confirmation, unless --json asked for machine output, in
// which case v is printed instead.
func (a *app) say(v any, format string, args ...any) error {
	if a.json {
		return a.printJSON(v)
	}
	_, err := fmt.Fprintf(a.env.Stdout, format+"\n", args...)
	return err
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, lo, hi int, what string) error {
	if len(args) < lo || len(args) > hi {
		return usageError{fmt.Sprintf("want %s, got %d argument(s)", what, len(args))}
	}
	return nil
}

// usageError is a bad command line or bad input: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// unavailableError is a Redis that cannot be reached: exit 4.
type unavailableError struct {
	addr string
	err  error
}

func (e unavailableError) Error() string {
	return fmt.Sprintf("cannot reach Redis at %s: %v\nCheck --redis or $REDIS_URL, and that Redis is running and reachable.", e.addr, e.err)
}

func (e unavailableError) Unwrap() error { return e.err }

// serverError is a Redis that answered the connection's first commands
// (AUTH, SELECT, PING) with an error, such as a database number out of
// range or a wrong password: it is reachable, so exit 1, not 4.
type serverError struct {
	addr string
	err  error
}

func (e serverError) Error() string {
	return fmt.Sprintf("Redis at %s refused the connection: %v\nCheck the --redis URL or $REDIS_URL: its database number, user and password; or the server's state.", e.addr, e.err)
}

func (e serverError) Unwrap() error { return e.err }

// report prints err, as text with a hint of what to do or, under --json,
// as errorJSON, on stderr, and returns the exit code. name is the command,
// or "" when there is none yet.
func (a *app) report(name string, err error) int {
	if err == nil {
		return ExitOK
	}
	code, exit := classify(err)
	if a.json {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		enc := json.NewEncoder(a.env.Stderr)
		_ = enc.Encode(errorJSON{Error: errorBody{Code: code, Message: msg, Exit: exit}})
		return exit
	}
	prefix := "fairway"
	if name != "" {
		prefix += " " + name
	}
	printf(a.env.Stderr, "%s: %v\n", prefix, err)
	switch {
	case code == codeUsage && name == "":
		printf(a.env.Stderr, "Run 'fairway help' for the list of commands and global flags.\n")
	case code == codeUsage:
		printf(a.env.Stderr, "Run 'fairway %s --help' for usage.\n", name)
	case errors.Is(err, broker.ErrUnknownQueue):
		printf(a.env.Stderr, "Run 'fairway queues' to list the queues; check --namespace.\n")
	case code == codeUnavailable && !errors.As(err, new(unavailableError)):
		printf(a.env.Stderr, "Check that Redis is reachable (--redis, $REDIS_URL), or raise --timeout.\n")
	}
	return exit
}

// The codes of errorJSON, stable for scripts; each has one exit code.
const (
	codeUsage        = "usage"            // ExitUsage: bad command line or input
	codeNotFound     = "not_found"        // ExitNotFound: queue, facet, dead letter or schedule
	codeUnavailable  = "unavailable"      // ExitUnavailable: Redis answered nothing
	codeRedisRefused = "redis_refused"    // ExitError: Redis refused the connection (AUTH, SELECT)
	codeMayEvict     = "may_evict"        // ExitError: "check" found a server that may evict keys
	codeNoQueue      = "no_queue"         // ExitError: "deliver --require-queue" reached no queue
	codeConflict     = "pattern_conflict" // ExitError: "register" with another queue's pattern
	codeBacklogFull  = "backlog_full"     // ExitError: "deliver" refused by a queue's backlog cap
	codeFailed       = "failed"           // ExitError: anything else
)

// classify gives err's code and exit code.
func classify(err error) (string, int) {
	switch {
	case errors.As(err, new(usageError)):
		return codeUsage, ExitUsage
	case errors.As(err, new(unavailableError)):
		return codeUnavailable, ExitUnavailable
	case errors.As(err, new(serverError)):
		return codeRedisRefused, ExitError
	case errors.Is(err, errNotFound), errors.Is(err, broker.ErrUnknownQueue):
		return codeNotFound, ExitNotFound
	case isBadInput(err):
		return codeUsage, ExitUsage
	case errors.Is(err, errMayEvict):
		return codeMayEvict, ExitError
	case errors.Is(err, broker.ErrNoQueue):
		return codeNoQueue, ExitError
	case errors.Is(err, broker.ErrPatternConflict):
		return codeConflict, ExitError
	case errors.Is(err, broker.ErrBacklogFull):
		return codeBacklogFull, ExitError
	case isNetwork(err):
		return codeUnavailable, ExitUnavailable
	}
	return codeFailed, ExitError
}

func isBadInput(err error) bool {
	for _, s := range []error{
		broker.ErrInvalidQueueName, broker.ErrInvalidPattern, broker.ErrInvalidTopic,
		broker.ErrInvalidFacet, broker.ErrInvalidMessage, broker.ErrMessageTooLarge,
		broker.ErrInvalidArgument, broker.ErrInvalidConfig,
	} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func isNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded)
}
