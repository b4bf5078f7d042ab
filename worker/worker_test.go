package worker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

func TestProcessesEveryMessageOnce(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		var mu sync.Mutex
		seen := map[string]int{}
		w := worker.New(b, quick(worker.Config{Concurrency: 8}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			mu.Lock()
			seen[string(m.Body)]++
			mu.Unlock()
			return nil
		})
		startWorker(t, w, b)
		for _, f := range []string{"a", "b", "c"} {
			deliverN(t, b, f, 100)
		}
		testutil.Eventually(t, 10*time.Second, drained(t, b), "queue not drained")
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 300 {
			t.Fatalf("handled %d distinct messages, want 300", len(seen))
		}
		for body, n := range seen {
			if n != 1 {
				t.Errorf("%s handled %d times", body, n)
			}
		}
	})
}

func TestSmallTenantsAreNotStarved(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		deliverN(t, b, "big", 200)
		for _, f := range []string{"s1", "s2", "s3"} {
			deliverN(t, b, f, 2)
		}
		var mu sync.Mutex
		var order []string
		w := worker.New(b, quick(worker.Config{Concurrency: 1}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			mu.Lock()
			order = append(order, m.Facet)
			mu.Unlock()
			return nil
		})
		startWorker(t, w, b)
		testutil.Eventually(t, 10*time.Second, drained(t, b), "queue not drained")
		mu.Lock()
		defer mu.Unlock()
		last := 0
		for i, f := range order {
			if f != "big" {
				last = i
			}
		}
		// Round-robin over 4 facets finishes the small ones' 6 messages by
		// position 8; FIFO would make them wait behind 200.
		if last > 8 {
			t.Fatalf("last small-tenant message at position %d; order %v", last, order[:12])
		}
	})
}

func TestRetriesUntilSuccess(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		var attempts []int
		var mu sync.Mutex
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, m.Attempt)
			if m.Attempt < 3 {
				return errors.New("transient")
			}
			return nil
		})
		startWorker(t, w, b)
		deliverN(t, b, "f", 1)
		testutil.Eventually(t, 10*time.Second, drained(t, b), "not acked after retries")
		mu.Lock()
		defer mu.Unlock()
		if len(attempts) != 3 || attempts[0] != 1 || attempts[2] != 3 {
			t.Fatalf("attempts = %v, want [1 2 3]", attempts)
		}
	})
}

func TestRetryDelayIsDurableInRedis(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		var calls atomic.Int32
		w := worker.New(b, quick(worker.Config{RetryBackoff: func(int) time.Duration { return time.Hour }}))
		w.HandleFunc("q", func(context.Context, *broker.Message) error {
			calls.Add(1)
			return errors.New("fail")
		})
		startWorker(t, w, b)
		deliverN(t, b, "f", 1)
		testutil.Eventually(t, 5*time.Second, func() bool { return stats(t, b).Delayed == 1 }, "retry not scheduled in Redis")
		if calls.Load() != 1 {
			t.Fatalf("handler ran %d times, want 1 before the delay", calls.Load())
		}
	})
}

func TestDeadLettersAfterMaxAttempts(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{MaxAttempts: 3})
		var calls atomic.Int32
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(context.Context, *broker.Message) error {
			calls.Add(1)
			return errors.New("always broken")
		})
		startWorker(t, w, b)
		deliverN(t, b, "f", 1)
		testutil.Eventually(t, 10*time.Second, func() bool { return stats(t, b).Dead == 1 }, "not dead-lettered")
		dead, err := b.DeadLetters(context.Background(), "q", 0, 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead letters %v, %v", dead, err)
		}
		if dead[0].Error != "always broken" || calls.Load() != 3 {
			t.Fatalf("dead letter error %q after %d calls; want %q after 3", dead[0].Error, calls.Load(), "always broken")
		}
	})
}

func TestSkipRetryAndRetryAfter(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			if m.Facet == "skip" {
				return worker.SkipRetry(errors.New("bad input"))
			}
			return worker.RetryAfter(errors.New("later"), time.Hour)
		})
		startWorker(t, w, b)
		deliverN(t, b, "skip", 1)
		deliverN(t, b, "later", 1)
		testutil.Eventually(t, 5*time.Second, func() bool {
			s := stats(t, b)
			return s.Dead == 1 && s.Delayed == 1
		}, "want one dead letter and one delayed retry; stats %+v", func() any { return stats(t, b) })
		dead, _ := b.DeadLetters(context.Background(), "q", 0, 1)
		if len(dead) != 1 || dead[0].Facet != "skip" || dead[0].Attempt != 1 {
			t.Fatalf("dead letters %+v", dead)
		}
	})
}

func TestPanicIsRecoveredAndRetried(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		var calls atomic.Int32
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(context.Context, *broker.Message) error {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			return nil
		})
		startWorker(t, w, b)
		deliverN(t, b, "f", 1)
		testutil.Eventually(t, 5*time.Second, drained(t, b), "not acked after panic")
		if calls.Load() != 2 {
			t.Fatalf("handler ran %d times, want 2", calls.Load())
		}
	})
}

func TestLongHandlerKeepsItsLease(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		var calls atomic.Int32
		w := worker.New(b, quick(worker.Config{LeaseDuration: 150 * time.Millisecond, Concurrency: 2}))
		w.HandleFunc("q", func(ctx context.Context, _ *broker.Message) error {
			calls.Add(1)
			select {
			case <-time.After(800 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		startWorker(t, w, b)
		deliverN(t, b, "f", 1)
		testutil.Eventually(t, 5*time.Second, drained(t, b), "not acked")
		if calls.Load() != 1 {
			t.Fatalf("handler ran %d times; the lease was not kept", calls.Load())
		}
	})
}

func TestHandlerContextEndsWhenLeaseIsLost(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		started := make(chan struct{})
		cause := make(chan error, 1)
		w := worker.New(b, quick(worker.Config{LeaseDuration: 100 * time.Millisecond}))
		w.HandleFunc("q", func(ctx context.Context, _ *broker.Message) error {
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		})
		startWorker(t, w, b)
		deliverN(t, b, "f", 1)
		<-started
		// Deleting the queue takes the lease away from the handler.
		if err := b.DestroyQueue(context.Background(), "q"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-cause:
			if !errors.Is(err, worker.ErrLeaseLost) {
				t.Fatalf("cause %v, want ErrLeaseLost", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler context did not end")
		}
	})
}

func TestMiddlewareOrder(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		var mu sync.Mutex
		var trail []string
		mark := func(s string) {
			mu.Lock()
			trail = append(trail, s)
			mu.Unlock()
		}
		named := func(name string) worker.Middleware {
			return func(next worker.Handler) worker.Handler {
				return worker.HandlerFunc(func(ctx context.Context, m *broker.Message) error {
					mark(name + ">")
					err := next.Handle(ctx, m)
					mark("<" + name)
					return err
				})
			}
		}
		w := worker.New(b, quick(worker.Config{}))
		w.Use(named("a"), named("b"))
		w.Use(named("c"))
		w.HandleFunc("q", func(context.Context, *broker.Message) error { mark("h"); return nil })
		startWorker(t, w, b)
		deliverN(t, b, "f", 1)
		testutil.Eventually(t, 5*time.Second, drained(t, b), "not acked")
		mu.Lock()
		defer mu.Unlock()
		want := []string{"a>", "b>", "c>", "h", "<c", "<b", "<a"}
		if len(trail) != len(want) {
			t.Fatalf("trail %v, want %v", trail, want)
		}
		for i := range want {
			if trail[i] != want[i] {
				t.Fatalf("trail %v, want %v", trail, want)
			}
		}
	})
}

type order struct {
	ID    int    `json:"id"`
	Email string `json:"email"`
}

func TestJSONHandler(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		got := make(chan order, 1)
		w := worker.New(b, quick(worker.Config{}))
		w.Handle("q", worker.JSON(func(_ context.Context, o order) error {
			got <- o
			return nil
		}))
		startWorker(t, w, b)
		ctx := context.Background()
		if err := b.Deliver(ctx, map[string]any{"topic": "orders", "id": 7, "email": "a@example.com"}); err != nil {
			t.Fatal(err)
		}
		select {
		case o := <-got:
			if o.ID != 7 || o.Email != "a@example.com" {
				t.Fatalf("decoded %+v", o)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("typed handler not called")
		}
		// A body that is not JSON can never succeed: dead at once.
		if err := b.DeliverBytes(ctx, "orders", "f", []byte("not json")); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { return stats(t, b).Dead == 1 }, "bad JSON not dead-lettered")
	})
}

func TestStrictPriorityServesHeavierQueueFirst(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		ctx := context.Background()
		if err := b.RegisterQueue(ctx, "low", "."); err != nil {
			t.Fatal(err)
		}
		deliverN(t, b, "f", 20) // into both "q" and "low"
		var mu sync.Mutex
		var order []string
		record := func(_ context.Context, m *broker.Message) error {
			mu.Lock()
			order = append(order, m.Queue)
			mu.Unlock()
			return nil
		}
		w := worker.New(b, quick(worker.Config{Concurrency: 1, StrictPriority: true, Queues: map[string]int{"q": 2, "low": 1}}))
		w.HandleFunc("q", record)
		w.HandleFunc("low", record)
		startWorker(t, w, b)
		testutil.Eventually(t, 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(order) == 40
		}, "not all handled")
		mu.Lock()
		defer mu.Unlock()
		for i, q := range order {
			if want := map[bool]string{true: "q", false: "low"}[i < 20]; q != want {
				t.Fatalf("position %d from %q, want %q; order %v", i, q, want, order)
			}
		}
	})
}
