package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

func TestClassifyOutcomes(t *testing.T) {
	t.Parallel()
	shutdown, cancel := context.WithCancelCause(context.Background())
	cancel(ErrShutdown)
	lost, cancelLost := context.WithCancelCause(context.Background())
	cancelLost(ErrLeaseLost)
	m := &broker.Message{Attempt: 1}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"success", context.Background(), nil, OutcomeAck},
		{"success after shutdown began", shutdown, nil, OutcomeAck},
		{"error", context.Background(), errors.New("x"), OutcomeRetry},
		{"retry after", context.Background(), RetryAfter(errors.New("x"), time.Second), OutcomeRetry},
		{"skip retry", context.Background(), SkipRetry(errors.New("x")), OutcomeDead},
		{"canceled by shutdown", shutdown, context.Canceled, OutcomeRelease},
		{"lease lost", lost, context.Canceled, OutcomeLost},
	}
	for _, tt := range tests {
		if got := classify(tt.ctx, m, tt.err); got != tt.want {
			t.Errorf("%s: classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}
