package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
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

func TestRotationByWeight(t *testing.T) {
	t.Parallel()
	r := newRotation(map[string]int{"a": 3, "b": 1, "c": 1}, false)
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

func TestRotationStrict(t *testing.T) {
	t.Parallel()
	r := newRotation(map[string]int{"low": 1, "high": 5, "mid": 3}, true)
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
	// default max attempts when the context carries none.
	if got := Classify(context.Background(), msgAttempt(25), errors.New("x")); got != OutcomeDead {
		t.Fatalf("attempt 25 of default 25 = %v, want dead", got)
	}
	if got := Classify(context.Background(), msgAttempt(24), errors.New("x")); got != OutcomeRetry {
		t.Fatalf("attempt 24 of default 25 = %v, want retry", got)
	}
}
