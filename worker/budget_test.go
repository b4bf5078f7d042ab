package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// A worker over a broker whose default is 25 keeps a message delivered with
// a budget of 3 to that budget both ways: a message that fails in the
// handler is dead after 3 runs, and one whose first 2 leases expired (its
// holders crashed) is dead after 1 failed run, the worker deciding so from
// the message as the broker does.
func TestWorkerKeepsMessageBudget(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{MaxAttempts: 25})
		// A crashing holder: it pulls with a short lease and never settles.
		crashed, err := broker.New(rdb, broker.Config{Namespace: b.Namespace(), Logger: quietLog, LeaseDuration: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.DeliverBytes(ctx, "t", "expired", []byte("x"), broker.WithMaxAttempts(3)); err != nil {
			t.Fatal(err)
		}
		for attempt := 1; attempt <= 2; attempt++ {
			m, err := crashed.Pull(ctx, "q")
			if err != nil || m == nil || m.Attempt != attempt || m.MaxAttempts != 3 {
				t.Fatalf("crashing holder's pull %d = %v, %v; want attempt %d of 3", attempt, m, err, attempt)
			}
			testutil.Eventually(t, 5*time.Second, func() bool {
				now, err := rdb.Time(ctx).Result()
				return err == nil && now.After(m.LeaseDeadline)
			}, "lease %d to expire", attempt)
		}
		if err := b.DeliverBytes(ctx, "t", "fails", []byte("x"), broker.WithMaxAttempts(3)); err != nil {
			t.Fatal(err)
		}
		var calls [2]atomic.Int32
		var wrong atomic.Value // the first outcome of the worker's that is not the budget's
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			if m.Facet == "expired" {
				calls[0].Add(1)
			} else {
				calls[1].Add(1)
			}
			return errors.New("broken")
		})
		w.Observe(budgetObserver{wrong: &wrong})
		startWorker(t, w, b)
		testutil.Eventually(t, 10*time.Second, func() bool { return stats(t, b).Dead == 2 }, "both dead")
		// Give a wrong extra run the time to happen.
		time.Sleep(100 * time.Millisecond)
		if c := [2]int32{calls[0].Load(), calls[1].Load()}; c != [2]int32{1, 3} {
			t.Fatalf("handler ran %d times after 2 expired leases, %d times from the first; want 1 and 3", c[0], c[1])
		}
		if v := wrong.Load(); v != nil {
			t.Fatalf("the worker did another thing than the budget says: %v", v)
		}
		if s := stats(t, b); s.Ready+s.Delayed+s.InFlight != 0 {
			t.Fatalf("stats %+v: a message is still live", s)
		}
	})
}

// budgetObserver records the first report whose outcome is not what a
// budget of 3 says: retry before the third attempt, dead on it.
type budgetObserver struct{ wrong *atomic.Value }

func (budgetObserver) Start(ctx context.Context, _ *broker.Message) context.Context { return ctx }

func (o budgetObserver) Finish(_ context.Context, m *broker.Message, r worker.Report) {
	want := worker.OutcomeRetry
	if m.Attempt == 3 {
		want = worker.OutcomeDead
	}
	if r.Outcome != want {
		o.wrong.CompareAndSwap(nil, m.String()+": "+r.Outcome.String())
	}
}
