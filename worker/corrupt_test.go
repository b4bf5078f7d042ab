package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// qkey is the key of kind of queue "q" of b.
func qkey(b *broker.Broker, queue, kind string) string {
	return b.Namespace() + ":{" + queue + "}:" + kind
}

// logRecorder is a slog handler that keeps the messages and errors of
// warnings, to count them.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn
}

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// count is how many warnings contained s.
func (l *logRecorder) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// counter counts the messages a handler saw, by body.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *counter) handle(_ context.Context, m *broker.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[string(m.Body)]++
	return nil
}

func (c *counter) count(body string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[body]
}

// TestWorkerSurvivesCorruptMessages corrupts messages in a queue a worker
// serves: a body that is not an envelope, attempts that are not a number,
// a garbage lease, and a lease that is gone. The worker must hand every
// other message to its handler exactly once, dead-letter the unreadable one
// without calling the handler, and end with the queue drained and its
// invariants kept.
func TestWorkerSurvivesCorruptMessages(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		// The worker's own leases are long, so that a slow machine never
		// sees one expire and a message run twice; only the dead worker's
		// are short.
		b := newBroker(t, rdb, broker.Config{})
		// Leased by a worker that died: their leases will expire.
		for _, f := range []string{"lease-garbage", "lease-gone"} {
			deliverN(t, b, f, 1)
		}
		got, err := b.PullWith(ctx, "q", broker.PullOptions{Count: 2, Lease: 100 * time.Millisecond})
		leased := got.Messages
		if err != nil || len(leased) != 2 {
			t.Fatalf("PullWith: %v, %v", leased, err)
		}
		deliverN(t, b, "a", 50)
		deliverN(t, b, "b", 50)
		deliverN(t, b, "x", 1)
		deliverN(t, b, "y", 1)
		idOf := func(facet string) string {
			id, err := rdb.LIndex(ctx, qkey(b, "q", "f:"+facet), 0).Result()
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		unreadable, badAttempts := idOf("x"), idOf("y")
		// The dead worker's leases: one garbled after its ID, one a bare ID
		// (as layout 1 wrote them).
		leases, err := rdb.ZRangeWithScores(ctx, qkey(b, "q", "leased"), 0, -1).Result()
		if err != nil || len(leases) != 2 {
			t.Fatalf("leases %v, %v; want 2", leases, err)
		}
		errs := []error{
			rdb.HSet(ctx, qkey(b, "q", "msgs"), unreadable, "\x00not an envelope").Err(),
			rdb.HSet(ctx, qkey(b, "q", "msgs"), "@"+badAttempts, "lots").Err(),
		}
		for _, z := range leases {
			v, _ := z.Member.(string)
			into := leased[1].ID
			if strings.HasPrefix(v, leased[0].ID+"|") {
				into = leased[0].ID + "|garbage"
			}
			errs = append(errs, rdb.ZRem(ctx, qkey(b, "q", "leased"), v).Err(),
				rdb.ZAdd(ctx, qkey(b, "q", "leased"), redis.Z{Score: z.Score, Member: into}).Err())
		}
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}

		var c counter
		w := worker.New(b, quick(worker.Config{Concurrency: 4}))
		w.HandleFunc("q", c.handle)
		startWorker(t, w, b)
		testutil.Eventually(t, 20*time.Second, func() bool {
			st := stats(t, b)
			return st.Ready+st.InFlight+st.Delayed == 0 && st.Dead == 1
		}, "the queue drained but for one dead letter")
		for _, f := range []string{"a", "b"} {
			for i := range 50 {
				if body := f + "-" + itoa(i); c.count(body) != 1 {
					t.Errorf("%s handled %d times, want once", body, c.count(body))
				}
			}
		}
		for _, body := range []string{"lease-garbage-0", "lease-gone-0", "y-0"} {
			if c.count(body) != 1 {
				t.Errorf("%s handled %d times, want once", body, c.count(body))
			}
		}
		dead, err := b.DeadLetters(ctx, "q", 0, 5)
		if err != nil || len(dead) != 1 || dead[0].ID != unreadable || !strings.Contains(dead[0].Error, "unreadable envelope") {
			t.Fatalf("dead letters %+v, %v; want %s, unreadable", dead, err, unreadable)
		}
		if err := w.Ready(); err != nil {
			t.Errorf("worker not ready: %v", err)
		}
	})
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestWorkerServesOtherQueuesBesideABrokenOne breaks a queue's keys (its
// cfg hash replaced by a set, which every pull refuses): a worker
// serving it and a healthy queue must handle all of the healthy queue's
// messages promptly, log the broken one's errors, stay ready (Redis
// answers), and never panic.
func TestWorkerServesOtherQueuesBesideABrokenOne(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		if err := b.RegisterQueue(ctx, "broken", "^never$"); err != nil {
			t.Fatal(err)
		}
		key := qkey(b, "broken", "cfg")
		if err := errors.Join(rdb.Del(ctx, key).Err(), rdb.SAdd(ctx, key, "x").Err()); err != nil {
			t.Fatal(err)
		}
		var c counter
		var logs logRecorder
		cfg := quick(worker.Config{Concurrency: 4, Queues: map[string]int{"q": 1, "broken": 1}})
		cfg.Logger = slog.New(&logs)
		w := worker.New(b, cfg)
		w.HandleFunc("q", c.handle)
		w.HandleFunc("broken", c.handle)
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Stop(context.Background()) })
		start := time.Now()
		for i := range 200 {
			deliverN(t, b, "g"+itoa(i%10), 1) // while the worker runs
		}
		testutil.Eventually(t, 10*time.Second, drained(t, b), "the healthy queue drained")
		t.Logf("200 messages handled in %v beside a broken queue", time.Since(start))
		if n := logs.count(`queue "broken"`); n == 0 || logs.count("WRONGTYPE") != n {
			t.Errorf("%d warnings name the broken queue, want some, each with its error", n)
		}
		if err := w.Ready(); err != nil {
			t.Errorf("Ready: %v; Redis answers, only one queue's keys are damaged", err)
		}
	})
}

// TestJSONHandlerDeeplyNested delivers JSON nested beyond encoding/json's
// limit of 10,000 levels to a worker.JSON handler: it is dead-lettered at
// once with the decoder's reason, without calling the function, and the
// messages around it are handled.
func TestJSONHandlerDeeplyNested(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		deep := strings.Repeat(`{"a":`, 10_001) + "1" + strings.Repeat("}", 10_001)
		fine := strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000)
		for _, body := range []string{fine, deep, `{"a":`, "\xff", fine} {
			if err := b.DeliverBytes(t.Context(), "t", "f", []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		handled := 0
		w := worker.New(b, quick(worker.Config{}))
		w.Handle("q", worker.JSON(func(context.Context, map[string]any) error {
			mu.Lock()
			handled++
			mu.Unlock()
			return nil
		}))
		startWorker(t, w, b)
		testutil.Eventually(t, 10*time.Second, func() bool {
			st := stats(t, b)
			return st.Ready+st.InFlight+st.Delayed == 0 && st.Dead == 3
		}, "two handled, three dead")
		mu.Lock()
		defer mu.Unlock()
		if handled != 2 {
			t.Errorf("the typed handler ran %d times, want 2", handled)
		}
		dead, err := b.DeadLetters(t.Context(), "q", 0, 5)
		if err != nil || len(dead) != 3 || !slices.ContainsFunc(dead, func(d broker.DeadLetter) bool {
			return strings.Contains(d.Error, "exceeded max depth")
		}) {
			t.Fatalf("dead letters %+v, %v; want 3, one too deep", dead, err)
		}
	})
}

// TestBrokenQueueDoesNotDelayOthers lets a worker serving a healthy queue
// and a broken one sit idle for a while, then delivers to the healthy
// queue: the message must be picked up as fast as without the broken
// queue, not after the backoff its errors built up.
func TestBrokenQueueDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		if err := b.RegisterQueue(ctx, "broken", "^never$"); err != nil {
			t.Fatal(err)
		}
		key := qkey(b, "broken", "cfg")
		if err := errors.Join(rdb.Del(ctx, key).Err(), rdb.SAdd(ctx, key, "x").Err()); err != nil {
			t.Fatal(err)
		}
		handled := make(chan time.Time, 10)
		var logs logRecorder
		cfg := quick(worker.Config{Queues: map[string]int{"q": 1, "broken": 1}, PollInterval: time.Second})
		cfg.Logger = slog.New(&logs)
		w := worker.New(b, cfg)
		w.HandleFunc("q", func(context.Context, *broker.Message) error { handled <- time.Now(); return nil })
		w.HandleFunc("broken", nop)
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Stop(context.Background()) })
		var worst time.Duration
		for round := range 3 {
			// Idle while the broken queue's pulls fail, each retried after a
			// longer backoff: 50ms, 100ms, ... 1.6s after the 6th.
			testutil.Eventually(t, 10*time.Second, func() bool { return logs.count("WRONGTYPE") >= 4+round },
				"%d failed pulls of the broken queue", 4+round)
			start := time.Now()
			deliverN(t, b, "f", 1)
			select {
			case at := <-handled:
				worst = max(worst, at.Sub(start))
			case <-time.After(10 * time.Second):
				t.Fatal("not handled within 10s")
			}
		}
		t.Logf("worst pickup beside a broken queue: %v", worst)
		if worst > 500*time.Millisecond {
			t.Errorf("a message took %v to be picked up: the broken queue holds the healthy one back", worst)
		}
	})
}
