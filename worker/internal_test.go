package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

func msgAttempt(n int) *broker.Message { return &broker.Message{Attempt: n} }

func TestSuperviseRestartsAfterFailureAndPanic(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	calls := 0
	supervise(context.Background(), log, "test", func(context.Context) error {
		calls++
		switch calls {
		case 1:
			return errors.New("failed")
		case 2:
			panic("boom")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("fn ran %d times, want 3 (error, panic, clean return)", calls)
	}
}

func TestSuperviseStopsWithContext(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	supervise(ctx, log, "test", func(context.Context) error {
		calls++
		cancel()
		return errors.New("failed")
	})
	if calls != 1 {
		t.Fatalf("fn ran %d times after its context ended, want 1", calls)
	}
}

func TestQueueOrderByWeight(t *testing.T) {
	t.Parallel()
	r := newQueueOrder(map[string]int{"a": 3, "b": 1, "c": 1}, false)
	first := map[string]int{}
	for range 50 {
		order := r.next()
		if len(order) != 3 {
			t.Fatalf("order %v does not list every queue", order)
		}
		first[order[0]]++
	}
	if first["a"] != 30 || first["b"] != 10 || first["c"] != 10 {
		t.Fatalf("first picks %v, want a:30 b:10 c:10", first)
	}
}

func TestQueueOrderStrict(t *testing.T) {
	t.Parallel()
	r := newQueueOrder(map[string]int{"low": 1, "high": 5, "mid": 3}, true)
	for range 5 {
		if got := r.next(); got[0] != "high" || got[1] != "mid" || got[2] != "low" {
			t.Fatalf("strict order %v", got)
		}
	}
}

func TestDefaultRetryBackoffGrows(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 30: time.Hour} {
		got := DefaultRetryBackoff(attempt)
		if got < want/2 || got > want*3/2 {
			t.Errorf("DefaultRetryBackoff(%d) = %v, want %v ±50%%", attempt, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	// Covered in outcome_test.go through the public API; here only the
	// default max attempts of a message built by hand, with no budget.
	if got := classify(context.Background(), msgAttempt(25), errors.New("x")); got != OutcomeDead {
		t.Fatalf("attempt 25 of default 25 = %v, want dead", got)
	}
	if got := classify(context.Background(), msgAttempt(24), errors.New("x")); got != OutcomeRetry {
		t.Fatalf("attempt 24 of default 25 = %v, want retry", got)
	}
}

// TestLeaseKeeperSurvivesPanic makes the keeper's loop panic once and checks
// that it still extends the lease afterwards.
func TestLeaseKeeperSurvivesPanic(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.RegisterQueue(ctx, "q", "."); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverBytes(ctx, "t", "f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	const lease = 500 * time.Millisecond // long enough that a loaded machine cannot miss the extension
	res, err := b.PullWith(ctx, "q", broker.PullOptions{Lease: lease})
	ms := res.Messages
	if err != nil || len(ms) != 1 {
		t.Fatalf("pull: %v, %v", ms, err)
	}
	first := ms[0].LeaseDeadline
	k := newKeeper(b, slog.New(slog.NewTextHandler(io.Discard, nil)), lease)
	var panicked atomic.Bool
	k.onTick = func() {
		if panicked.CompareAndSwap(false, true) {
			panic("boom")
		}
	}
	k.track(ms[0], func(error) {})
	sup := &supervisor{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer sup.start(ctx, service{"lease keeper", k.run}).stop()
	// Extended past the first deadline, by the restarted loop.
	testutil.Eventually(t, 5*time.Second, func() bool {
		got, err := b.Pull(ctx, "q")
		if err != nil || got != nil {
			t.Fatalf("the message came back (%v, %v): its lease was not kept", got, err)
		}
		return panicked.Load() && time.Now().After(first.Add(2*lease))
	}, "keeper did not run after the panic")
}
