package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
)

func TestClassifyOutcomes(t *testing.T) {
	t.Parallel()
	shutdown, cancel := context.WithCancelCause(context.Background())
	cancel(worker.ErrShutdown)
	lost, cancelLost := context.WithCancelCause(context.Background())
	cancelLost(worker.ErrLeaseLost)
	m := &broker.Message{Attempt: 1}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want worker.Outcome
	}{
		{"success", context.Background(), nil, worker.OutcomeAck},
		{"success after shutdown began", shutdown, nil, worker.OutcomeAck},
		{"error", context.Background(), errors.New("x"), worker.OutcomeRetry},
		{"retry after", context.Background(), worker.RetryAfter(errors.New("x"), time.Second), worker.OutcomeRetry},
		{"skip retry", context.Background(), worker.SkipRetry(errors.New("x")), worker.OutcomeDead},
		{"canceled by shutdown", shutdown, context.Canceled, worker.OutcomeRelease},
		{"lease lost", lost, context.Canceled, worker.OutcomeLost},
	}
	for _, tt := range tests {
		if got := worker.Classify(tt.ctx, m, tt.err); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	base := errors.New("base")
	if err := worker.SkipRetry(base); !errors.Is(err, worker.ErrSkipRetry) || !errors.Is(err, base) {
		t.Fatalf("SkipRetry(base) = %v loses a cause", err)
	}
	var ra *worker.RetryAfterError
	if err := worker.RetryAfter(base, time.Minute); !errors.As(err, &ra) || ra.Delay != time.Minute || !errors.Is(err, base) {
		t.Fatalf("RetryAfter = %v", err)
	}
	pe := worker.NewPanicError(base)
	if !errors.Is(pe, base) || len(pe.Stack) == 0 {
		t.Fatalf("PanicError %v: no cause or stack", pe)
	}
}
