package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// levelLog records every log line, with its level.
type levelLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *levelLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *levelLog) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return nil
}

func (l *levelLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levelLog) WithGroup(string) slog.Handler      { return l }

// count is how many lines contain every one of subs.
func (l *levelLog) count(subs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

func (l *levelLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// bareBroker is a broker in a namespace of its own with no queue.
func bareBroker(t *testing.T, rdb redis.UniversalClient, ns string) *broker.Broker {
	t.Helper()
	b, err := broker.New(rdb, broker.Config{Namespace: ns, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingHandler counts the messages it handles.
type countingHandler struct{ n atomic.Int64 }

func (h *countingHandler) Handle(context.Context, *broker.Message) error {
	h.n.Add(1)
	return nil
}

// Start fails, naming the queue, when a served queue does not exist and the
// worker has no pattern for it, or has another pattern than the queue; with
// a route it registers the queue; bad routes are refused.
func TestStartChecksServedQueues(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := bareBroker(t, rdb, testutil.Namespace(t))
		start := func(cfg worker.Config) (*worker.Worker, error) {
			w := worker.New(b, quick(cfg))
			w.Handle("jobs", &countingHandler{})
			err := w.Start(ctx)
			if err == nil {
				t.Cleanup(func() { _ = w.Stop(context.Background()) })
			}
			return w, err
		}

		w, err := start(worker.Config{})
		if !errors.Is(err, worker.ErrQueueMissing) || !strings.Contains(err.Error(), `queue "jobs" is not registered`) {
			t.Fatalf("Start on a missing queue: %v, want ErrQueueMissing naming jobs", err)
		}
		if err := w.Ready(); err == nil || !strings.Contains(err.Error(), "not running") {
			t.Fatalf("Ready after a failed Start: %v", err)
		}
		if qs, _ := b.Queues(ctx); len(qs) != 0 {
			t.Fatalf("a failed Start registered %v", qs)
		}

		for name, cfg := range map[string]worker.Config{
			"bad pattern":     {Routes: map[string]string{"jobs": "a("}},
			"empty pattern":   {Routes: map[string]string{"jobs": ""}},
			"bad queue name":  {Routes: map[string]string{"a b": "."}},
			"unhandled queue": {Routes: map[string]string{"jobs": ".", "other": "."}},
			"unserved queue":  {Queues: map[string]int{"jobs": 1}, Routes: map[string]string{"other": "."}},
		} {
			if _, err := start(cfg); err == nil {
				t.Errorf("%s: Start succeeded", name)
			} else if !errors.Is(err, broker.ErrInvalidPattern) && !errors.Is(err, broker.ErrInvalidQueueName) && !errors.Is(err, worker.ErrInvalidRegistration) {
				t.Errorf("%s: %v wraps no sentinel", name, err)
			}
		}
		if qs, _ := b.Queues(ctx); len(qs) != 0 {
			t.Fatalf("Start with bad routes registered %v", qs)
		}

		if _, err := start(worker.Config{Routes: map[string]string{"jobs": `^jobs\.`}}); err != nil {
			t.Fatalf("Start with a route: %v", err)
		}
		if qs, _ := b.Queues(ctx); qs["jobs"] != `^jobs\.` {
			t.Fatalf("Queues after Start with a route: %v", qs)
		}
		_, err = start(worker.Config{Routes: map[string]string{"jobs": `^job\.`}})
		if !errors.Is(err, broker.ErrPatternConflict) || !strings.Contains(err.Error(), `"jobs"`) {
			t.Fatalf("Start with another pattern: %v, want ErrPatternConflict naming jobs", err)
		}
		if qs, _ := b.Queues(ctx); qs["jobs"] != `^jobs\.` {
			t.Fatalf("a refused Start changed the pattern: %v", qs)
		}
		if _, err := start(worker.Config{}); err != nil {
			t.Fatalf("Start on a registered queue without a route: %v", err)
		}
	})
}

// restartEmpty restarts srv, whose persistence is off, and fails t unless
// it came back empty.
func restartEmpty(t *testing.T, srv *testutil.Server, rdb *redis.Client) {
	t.Helper()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if info, err := rdb.ConfigGet(t.Context(), "save").Result(); err != nil || info["save"] != "" {
		t.Fatalf("CONFIG GET save = %v, %v: want persistence off", info, err)
	}
}

// A worker that knows its queue's pattern registers the queue again after
// Redis restarted empty, says so once, and handles what is delivered after
// the restart, by a producer whose registry cache predates it.
func TestWorkerHealsLostRegistry(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t)
	admin, wrdb, prdb := srv.Client(), srv.Client(), srv.Client()
	t.Cleanup(func() { _ = admin.Close(); _ = wrdb.Close(); _ = prdb.Close() })
	ns := testutil.Namespace(t)
	producer := bareBroker(t, prdb, ns)
	var logs levelLog
	cfg := quick(worker.Config{Routes: map[string]string{"jobs": `^jobs\.`}})
	cfg.Logger = slog.New(&logs)
	w := worker.New(bareBroker(t, wrdb, ns), cfg)
	h := &countingHandler{}
	w.Handle("jobs", h)
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	deliverTopic(t, producer, "jobs.a", 10)
	testutil.Eventually(t, 10*time.Second, func() bool { return h.n.Load() == 10 }, "10 messages handled")

	restartEmpty(t, srv, admin)
	testutil.Eventually(t, 20*time.Second, func() bool {
		qs, err := bareBroker(t, admin, ns).Queues(t.Context())
		return err == nil && qs["jobs"] == `^jobs\.`
	}, "the worker registered jobs again")
	deliverTopic(t, producer, "jobs.b", 10)
	testutil.Eventually(t, 10*time.Second, func() bool { return h.n.Load() == 20 }, "the 10 messages delivered after the restart handled")
	testutil.Eventually(t, 10*time.Second, func() bool { return w.Ready() == nil }, "ready again")
	if n := logs.count("WARN", "registered it again", "queue=jobs"); n != 1 {
		t.Errorf("%d lines say jobs was registered again, want 1:\n%s", n, &logs)
	}
}

// A worker with no pattern for its queue, after Redis restarted empty, is
// not ready and says why, in /readyz and in one log line (not one per
// try); once the queue is registered again it is ready and handles it.
func TestWorkerReportsLostQueue(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t)
	admin, wrdb := srv.Client(), srv.Client()
	t.Cleanup(func() { _ = admin.Close(); _ = wrdb.Close() })
	ns := testutil.Namespace(t)
	a := bareBroker(t, admin, ns)
	if err := a.RegisterQueue(t.Context(), "jobs", `^jobs\.`); err != nil {
		t.Fatal(err)
	}
	var logs levelLog
	cfg := quick(worker.Config{PollInterval: 10 * time.Millisecond})
	cfg.Logger = slog.New(&logs)
	w := worker.New(bareBroker(t, wrdb, ns), cfg)
	h := &countingHandler{}
	w.Handle("jobs", h)
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	health := httptest.NewServer(w.HealthHandler())
	t.Cleanup(health.Close)
	testutil.Eventually(t, 10*time.Second, func() bool { return w.Ready() == nil }, "ready")

	restartEmpty(t, srv, admin)
	const reason = `queue "jobs" is not registered (Redis lost its registry?)`
	testutil.Eventually(t, 20*time.Second, func() bool {
		err := w.Ready()
		return err != nil && strings.Contains(err.Error(), reason)
	}, "Ready says the queue is missing")
	if err := w.Ready(); !errors.Is(err, worker.ErrQueueMissing) {
		t.Errorf("Ready = %v, want ErrQueueMissing", err)
	}
	code, body := getReadyz(t, health.URL)
	if code != http.StatusServiceUnavailable || !strings.Contains(body["reason"], reason) || strings.Contains(body["reason"], "unreachable") {
		t.Errorf("/readyz = %d %v, want 503 saying %s", code, body, reason)
	}
	time.Sleep(500 * time.Millisecond) // many pulls at 10ms; the backoff caps at 5s
	if n := logs.count("ERROR", reason); n != 1 {
		t.Errorf("%d lines say the queue is missing, want 1:\n%s", n, &logs)
	}
	if n := logs.count("pull failed"); n != 0 {
		t.Errorf("%d warnings of failed pulls for a queue that is missing:\n%s", n, &logs)
	}

	if err := a.RegisterQueue(t.Context(), "jobs", `^jobs\.`); err != nil {
		t.Fatal(err)
	}
	deliverTopic(t, a, "jobs.a", 5)
	testutil.Eventually(t, 20*time.Second, func() bool { return w.Ready() == nil && h.n.Load() == 5 }, "ready again, the messages handled")
	if n := logs.count("INFO", "queue is back", "queue=jobs"); n != 1 {
		t.Errorf("%d lines say the queue is back, want 1:\n%s", n, &logs)
	}
	if n := logs.count("ERROR", reason); n != 1 {
		t.Errorf("%d lines say the queue is missing, want 1:\n%s", n, &logs)
	}
}

func deliverTopic(t *testing.T, b *broker.Broker, topic string, n int) {
	t.Helper()
	for i := range n {
		if err := b.DeliverBytes(t.Context(), topic, fmt.Sprint("f", i%3), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
}

func getReadyz(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
