package worker_test

import (
	"context"
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

// scriptCounter counts the scripts a client runs.
type scriptCounter struct{ n atomic.Int64 }

func (c *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.HasPrefix(cmd.Name(), "eval") {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func countScripts(t *testing.T, rdb redis.UniversalClient) *scriptCounter {
	t.Helper()
	c, ok := rdb.(*redis.Client)
	if !ok {
		t.Fatalf("backend client is a %T", rdb)
	}
	sc := &scriptCounter{}
	c.AddHook(sc)
	return sc
}

// TestWorkerRateLimits runs a pool on three facets limited to 5 a second
// and one unlimited, with the default 1s poll interval: the pool wakes when
// a limited facet frees up, so each gets 5 a second, and it does so without
// polling Redis in a loop.
func TestWorkerRateLimits(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		const perPeriod, lease = 5, 30 * time.Second
		scripts := countScripts(t, rdb)
		b := newBroker(t, rdb, broker.Config{})
		ctx := context.Background()
		if err := b.SetRateLimit(ctx, "q", broker.RateLimit{N: perPeriod, Per: time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := b.SetFacetRateLimit(ctx, "q", "free", broker.RateLimit{}); err != nil {
			t.Fatal(err)
		}
		limited := []string{"a", "b", "c"}
		for _, f := range limited {
			deliverN(t, b, f, 30)
		}
		deliverN(t, b, "free", 200)

		var mu sync.Mutex
		times := map[string][]time.Time{} // pull times, Redis's clock
		w := worker.New(b, quick(worker.Config{Concurrency: 4, PollInterval: time.Second, LeaseDuration: lease}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			mu.Lock()
			times[m.Facet] = append(times[m.Facet], m.LeaseDeadline.Add(-lease))
			mu.Unlock()
			return nil
		})
		startWorker(t, w, b)
		handled := func(f string) int {
			mu.Lock()
			defer mu.Unlock()
			return len(times[f])
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			return handled("a") > 2*perPeriod && handled("b") > 2*perPeriod && handled("c") > 2*perPeriod
		}, "limited facets to get two seconds' worth")
		before := scripts.n.Load()
		testutil.Eventually(t, 10*time.Second, func() bool { return handled("a") > 3*perPeriod }, "one more second")
		idleScripts := scripts.n.Load() - before

		mu.Lock()
		defer mu.Unlock()
		if n := len(times["free"]); n != 200 {
			t.Errorf("unlimited facet: %d handled, want all 200", n)
		}
		start := times["a"][0]
		for _, f := range limited {
			ts := times[f]
			for i := perPeriod; i < len(ts); i++ {
				if d := ts[i].Sub(ts[i-perPeriod]); d < time.Second {
					t.Errorf("facet %s: %d pulls within %v", f, perPeriod+1, d)
				}
			}
			for p := range 2 {
				from, to := start.Add(time.Duration(p)*time.Second), start.Add(time.Duration(p+1)*time.Second)
				n := 0
				for _, tm := range ts {
					if !tm.Before(from) && tm.Before(to) {
						n++
					}
				}
				if n < perPeriod-1 || n > perPeriod+1 {
					t.Errorf("facet %s: %d handled in second %d, want %d±1", f, n, p, perPeriod)
				}
			}
		}
		// Once the unlimited facet is done, about 15 messages a second need
		// about 15 pulls and a few ack batches: polling in a loop would run
		// hundreds of scripts.
		if idleScripts > 100 {
			t.Errorf("%d scripts in about a second of rate-limited work", idleScripts)
		}
		t.Logf("scripts in the last second: %d", idleScripts)
	})
}

// TestWorkerPausedQueue checks that a pool handles nothing from a paused
// queue, though it keeps pulling, and everything once it resumes.
func TestWorkerPausedQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		scripts := countScripts(t, rdb)
		b := newBroker(t, rdb, broker.Config{})
		ctx := context.Background()
		if err := b.PauseQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		var handled atomic.Int64
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(context.Context, *broker.Message) error {
			handled.Add(1)
			return nil
		})
		startWorker(t, w, b)
		deliverN(t, b, "a", 5)
		deliverN(t, b, "b", 5)
		// Several polls go by (20ms apart) while the queue is paused.
		from := scripts.n.Load()
		testutil.Eventually(t, 5*time.Second, func() bool { return scripts.n.Load() > from+5 }, "polls while paused")
		if n := handled.Load(); n != 0 {
			t.Fatalf("handled %d messages of a paused queue", n)
		}
		if s := stats(t, b); !s.Paused || s.Ready != 10 {
			t.Fatalf("stats of the paused queue %+v, want paused with 10 ready", s)
		}
		if err := b.ResumeQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, drained(t, b), "the resumed queue to drain")
		if n := handled.Load(); n != 10 {
			t.Fatalf("handled %d after resuming, want 10", n)
		}
	})
}
