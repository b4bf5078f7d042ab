package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"maps"
	"strings"
	"testing"
	"time"
)

// envOf makes an env func from a map.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no queues", nil, nil, "FAIRWAY_QUEUES / --queues: no queue given"},
		{"blank queues", map[string]string{"FAIRWAY_QUEUES": " , "}, nil, `invalid queue name ""`},
		{"bad queue name", map[string]string{"FAIRWAY_QUEUES": "emails,a b"}, nil, `invalid queue name "a b"`},
		{"duplicate queue", map[string]string{"FAIRWAY_QUEUES": "a=1,a=2"}, nil, `queue "a" is listed twice`},
		{"bad weight", map[string]string{"FAIRWAY_QUEUES": "a=x"}, nil, `queue "a": weight "x" is not a whole number`},
		{"zero weight", map[string]string{"FAIRWAY_QUEUES": "a=0"}, nil, `queue "a": weight "0"`},
		{"bad queue flag", nil, []string{"-queues", "a=-1"}, `FAIRWAY_QUEUES / --queues: queue "a": weight "-1"`},
		{"bad lease env", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_LEASE": "10"}, nil, `FAIRWAY_LEASE: "10" is not a duration`},
		{"bad shutdown env", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_SHUTDOWN_TIMEOUT": "soon"}, nil, `FAIRWAY_SHUTDOWN_TIMEOUT: "soon" is not a duration`},
		{"bad work time flag", map[string]string{"FAIRWAY_QUEUES": "a"}, []string{"-work-time", "1x"}, `invalid value "1x" for flag -work-time`},
		{"negative shutdown", map[string]string{"FAIRWAY_QUEUES": "a"}, []string{"-shutdown-timeout", "-1s"}, "-shutdown-timeout: -1s is negative"},
		{"short lease", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_LEASE": "1ms"}, nil, "-lease: 1ms is below 10ms"},
		{"bad concurrency env", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_CONCURRENCY": "many"}, nil, `FAIRWAY_CONCURRENCY: "many" is not a whole number`},
		{"zero concurrency", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_CONCURRENCY": "0"}, nil, "-concurrency: 0 is below 1"},
		{"bad url scheme", map[string]string{"FAIRWAY_QUEUES": "a", "REDIS_URL": "http://localhost:6379"}, nil, "REDIS_URL / --redis: redis: invalid URL scheme: http"},
		{"bad url db", map[string]string{"FAIRWAY_QUEUES": "a", "REDIS_URL": "redis://localhost:6379/x"}, nil, `REDIS_URL / --redis: redis: invalid database number: "x"`},
		{"bad url syntax", map[string]string{"FAIRWAY_QUEUES": "a", "REDIS_URL": "redis://u:secret@[::1"}, nil, "REDIS_URL / --redis: parse"},
		{"bad pattern", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_PATTERN": "({queue}"}, nil, `FAIRWAY_PATTERN / --pattern: queue "a": error parsing regexp`},
		{"route not QUEUE=PATTERN", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_ROUTES": "a"}, nil, `FAIRWAY_ROUTES / --routes: "a" is not QUEUE=PATTERN`},
		{"route of an unserved queue", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_ROUTES": "b=^b"}, nil, `queue "b" is not in FAIRWAY_QUEUES`},
		{"route listed twice", map[string]string{"FAIRWAY_QUEUES": "a"}, []string{"-routes", "a=^a;a=^b"}, `queue "a" is listed twice`},
		{"bad route pattern", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_ROUTES": "a=(x"}, nil, `FAIRWAY_ROUTES / --routes: queue "a": error parsing regexp`},
		{"bad log level", map[string]string{"FAIRWAY_QUEUES": "a", "FAIRWAY_LOG_LEVEL": "loud"}, nil, "FAIRWAY_LOG_LEVEL / --log-level:"},
		{"empty health addr", map[string]string{"FAIRWAY_QUEUES": "a"}, []string{"-health-addr="}, `use "off"`},
		{"unknown flag", map[string]string{"FAIRWAY_QUEUES": "a"}, []string{"-nope"}, "flag provided but not defined: -nope"},
		{"extra argument", map[string]string{"FAIRWAY_QUEUES": "a"}, []string{"extra"}, `unexpected arguments ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every error comes before run touches Redis or the network.
			err := run(context.Background(), tt.args, envOf(tt.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run: got error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	env := envOf(map[string]string{"REDIS_URL": "redis://user:secret@redis:6379/0"})
	err := run(context.Background(), []string{"-h"}, env, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h: %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"FAIRWAY_QUEUES", "REDIS_URL", "redis://user:xxxxx@redis:6379/0", "  --redis string", "  --queues string"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "secret") {
		t.Errorf("usage shows the password:\n%s", out.String())
	}
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"REDIS_URL":                "redis://:pw@db.internal:6380/3",
		"FAIRWAY_NAMESPACE":        "app",
		"FAIRWAY_QUEUES":           "emails=2, reports",
		"FAIRWAY_CONCURRENCY":      "7",
		"FAIRWAY_SHUTDOWN_TIMEOUT": "20s",
		"FAIRWAY_LEASE":            "5s",
		"FAIRWAY_WORK_TIME":        "20ms",
	})
	// Flags win over the environment.
	c, err := parseConfig([]string{"-concurrency", "3", "-health-addr", "127.0.0.1:0"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.redis; got.Addr != "db.internal:6380" || got.DB != 3 || got.Password != "pw" {
		t.Errorf("redis options: addr %q db %d password %q", got.Addr, got.DB, got.Password)
	}
	if want := map[string]int{"emails": 2, "reports": 1}; !maps.Equal(c.queues, want) {
		t.Errorf("queues %v, want %v", c.queues, want)
	}
	if c.namespace != "app" || c.concurrency != 3 || c.shutdownTimeout != 20*time.Second ||
		c.lease != 5*time.Second || c.workTime != 20*time.Millisecond || c.healthAddr != "127.0.0.1:0" {
		t.Errorf("config %+v", c)
	}
	if p, _ := c.patternOf("a.b"); p != `^a\.b(\.|$)` {
		t.Errorf("pattern of a.b: %q", p)
	}
	if c.patternSet || len(c.toldRoutes()) != 0 {
		t.Errorf("no pattern given, yet patternSet %v, routes %v", c.patternSet, c.toldRoutes())
	}
}

// -routes gives queues their patterns; -pattern, given, the others; the
// old -redis-url still sets -redis.
func TestParseConfigRoutes(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"FAIRWAY_QUEUES": "emails=2,reports,jobs",
		"FAIRWAY_ROUTES": ` emails=^email\. ; reports=^report\.;`,
	})
	c, err := parseConfig([]string{"-redis-url", "redis://old.example:6390/1"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.redis.Addr != "old.example:6390" || c.redis.DB != 1 {
		t.Errorf("-redis-url: addr %q db %d", c.redis.Addr, c.redis.DB)
	}
	want := map[string]string{"emails": `^email\.`, "reports": `^report\.`}
	if !maps.Equal(c.routes, want) || !maps.Equal(c.toldRoutes(), want) {
		t.Errorf("routes %v, told %v; want %v", c.routes, c.toldRoutes(), want)
	}
	if p, _ := c.patternOf("jobs"); p != `^jobs(\.|$)` || c.patternSet {
		t.Errorf("jobs: pattern %q, patternSet %v", p, c.patternSet)
	}
	c, err = parseConfig([]string{"-pattern", "^{queue}$"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want["jobs"] = "^jobs$"
	if !c.patternSet || !maps.Equal(c.toldRoutes(), want) {
		t.Errorf("-pattern given: patternSet %v, told %v; want %v", c.patternSet, c.toldRoutes(), want)
	}
	c, err = parseConfig([]string{"-pattern", "-", "-redis", "redis://new.example:6391/0"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	delete(want, "jobs")
	if !maps.Equal(c.toldRoutes(), want) || c.redis.Addr != "new.example:6391" {
		t.Errorf("-pattern -: told %v, want %v; redis %q", c.toldRoutes(), want, c.redis.Addr)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseConfig([]string{"-queues", "q"}, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.redis.Addr != "127.0.0.1:6379" || c.redis.DB != 0 || c.namespace != "fairway" ||
		c.concurrency != 10 || c.shutdownTimeout != 25*time.Second || c.lease != 30*time.Second ||
		c.healthAddr != ":8081" || c.pattern != patternDefault || c.recordKey != "" {
		t.Errorf("defaults %+v", c)
	}
}
