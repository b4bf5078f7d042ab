package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// idle settings.
const (
	idleWarmup = time.Second
	idleWindow = 5 * time.Second
)

// runIdle starts a worker on an empty queue and counts the commands it sends
// while it idles (by MONITOR), and the commands Redis processes meanwhile,
// counting those that scripts run (by INFO commandstats, less the
// measurement's own INFO and MONITOR).
func runIdle(ctx context.Context, e *env) ([]result, error) {
	f, err := newFairway(ctx, e, "idle")
	if err != nil {
		return nil, err
	}
	defer f.close()
	w, err := f.startWorker(ctx, e, 10, func(context.Context, *broker.Message) error { return nil })
	if err != nil {
		return nil, err
	}
	sent, processed, err := watchIdle(ctx, e, idleWindow)
	if stopErr := f.stopWorker(w); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	e.printf("idle: in %v, sent %s; processed, with the calls inside scripts, %s\n",
		idleWindow, describe(sent), describe(processed))
	return []result{
		{scenario: "idle", metric: "commands sent", value: perSecond(sent, idleWindow), unit: "cmds/s", target: 10, atMost: true},
		{scenario: "idle", metric: "commands processed, incl. inside scripts", value: perSecond(processed, idleWindow), unit: "cmds/s", target: 10, atMost: true},
	}, nil
}

// watchIdle waits idleWarmup for a worker just started to settle, then
// watches the server for window: it returns the commands that clients sent
// (by MONITOR, which leaves out those that scripts run) and the commands
// Redis processed, scripts' included (by INFO commandstats, less the
// measurement's own INFO and MONITOR). The measurement has its own
// connection, connected before the window.
func watchIdle(ctx context.Context, e *env, window time.Duration) (sent, processed map[string]int64, err error) {
	probe := e.srv.client()
	defer func() { _ = probe.Close() }()
	time.Sleep(idleWarmup) // start-up commands are not idling
	before, err := commandStats(ctx, probe)
	if err != nil {
		return nil, nil, err
	}
	if sent, err = monitor(ctx, e.srv.addr, window); err != nil {
		return nil, nil, err
	}
	after, err := commandStats(ctx, probe)
	if err != nil {
		return nil, nil, err
	}
	processed = diff(after, before)
	delete(processed, "info") // the measurement's own
	delete(processed, "monitor")
	return sent, processed, nil
}

// Idle commands, compared: one worker process (Concurrency 10) on an empty
// queue, watched for idleWindow per round after idleWarmup; the rates are
// over all rounds' windows together, so that periodic work of long periods
// counts as often as it happens.
func idleComparison() comparison {
	measure := func(start func(ctx context.Context, e *env) (stop func() error, err error)) measureFunc {
		return func(ctx context.Context, e *env) (measurement, error) {
			stop, err := start(ctx, e)
			if err != nil {
				return nil, err
			}
			return idleMeasurement(ctx, e, stop)
		}
	}
	return comparison{
		name:  "idle",
		title: "7. idle worker",
		rows: []rowSpec{
			{key: "sent", metric: "commands sent to Redis", unit: "cmds/s", reduce: pooledRate},
			{key: "processed", metric: "commands Redis ran, incl. inside scripts", unit: "cmds/s", reduce: pooledRate},
		},
		measure: measures{
			fairwaySys: measure(func(ctx context.Context, e *env) (func() error, error) {
				f, err := newFairway(ctx, e, "idle")
				if err != nil {
					return nil, err
				}
				w, err := f.startWorker(ctx, e, 10, func(context.Context, *broker.Message) error { return nil })
				if err != nil {
					f.close()
					return nil, err
				}
				return func() error { defer f.close(); return f.stopWorker(w) }, nil
			}),
			asynqSys: measure(func(_ context.Context, e *env) (func() error, error) {
				a := newAsynq(e, "idle", 0)
				srv, err := a.startServer(10, func(context.Context, *asynq.Task) error { return nil })
				if err != nil {
					a.close()
					return nil, err
				}
				return func() error { defer a.close(); return a.stopServer(srv) }, nil
			}),
			bullmqSys: bullmqMeasure("idle", func(*env) int { return 0 }),
		},
	}
}

// idleMeasurement watches a worker just started for e.sizes.idleWindow,
// then stops it.
func idleMeasurement(ctx context.Context, e *env, stop func() error) (measurement, error) {
	window := e.sizes.idleWindow
	sent, processed, err := watchIdle(ctx, e, window)
	if stopErr := stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	e.note("in %v, sent %s; processed, with the calls inside scripts, %s", window, describe(sent), describe(processed))
	return measurement{
		"sent":      {float64(total(sent))},
		"processed": {float64(total(processed))},
		"seconds":   {window.Seconds()},
	}, nil
}

func diff(after, before map[string]int64) map[string]int64 {
	d := make(map[string]int64)
	for name, n := range after {
		if n > before[name] {
			d[name] = n - before[name]
		}
	}
	return d
}

func perSecond(counts map[string]int64, window time.Duration) float64 {
	return float64(total(counts)) / window.Seconds()
}

func total(counts map[string]int64) int64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

// describe lists counts as "evalsha=5 ping=1".
func describe(counts map[string]int64) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s=%d", name, counts[name]))
	}
	return strings.Join(parts, " ")
}

// monitor counts, by name, the commands that clients send to the server at
// addr for d, using MONITOR; it leaves out the commands that scripts run.
func monitor(ctx context.Context, addr string, d time.Duration) (map[string]int64, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	r := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "*1\r\n$7\r\nMONITOR\r\n"); err != nil {
		return nil, err
	}
	if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		return nil, fmt.Errorf("MONITOR answered %q: %w", line, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(d))
	counts := make(map[string]int64)
	for {
		line, err := r.ReadString('\n')
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return counts, nil
		}
		if err != nil {
			return nil, err
		}
		// +1700000000.123456 [0 127.0.0.1:5000] "evalsha" "..." or,
		// from a script, [0 lua] "hget" ...
		_, rest, _ := strings.Cut(line, " [")
		client, args, _ := strings.Cut(rest, "] ")
		if strings.HasSuffix(client, " lua") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(args, `"`), `"`)
		counts[strings.ToLower(name)]++
	}
}

// commandStats is the number of calls of each command, from INFO
// commandstats.
func commandStats(ctx context.Context, rdb *redis.Client) (map[string]int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	calls := make(map[string]int64)
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("commandstats line %q: %w", line, err)
		}
		calls[strings.TrimPrefix(name, "cmdstat_")] = v
	}
	return calls, nil
}
