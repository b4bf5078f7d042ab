package middleware_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
)

func TestTimeoutDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		d            time.Duration
		parent       time.Duration // parent deadline from now; 0: none
		wantDeadline bool
		wantWithin   time.Duration // the deadline's distance from the start, ±1s
	}{
		{name: "sets a deadline d away", d: time.Minute, wantDeadline: true, wantWithin: time.Minute},
		{name: "keeps a sooner parent deadline", d: time.Hour, parent: time.Minute, wantDeadline: true, wantWithin: time.Minute},
		{name: "zero adds none", d: 0},
		{name: "negative adds none", d: -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.parent > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.parent)
				defer cancel()
			}
			var (
				deadline time.Time
				ok       bool
			)
			start := time.Now()
			h := worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
				deadline, ok = ctx.Deadline()
				return nil
			})
			if err := middleware.Timeout(tt.d)(h).Handle(ctx, newMessage()); err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantDeadline {
				t.Fatalf("handler's context has a deadline: %v; want %v", ok, tt.wantDeadline)
			}
			if got := deadline.Sub(start); ok && (got < tt.wantWithin-time.Second || got > tt.wantWithin+time.Second) {
				t.Errorf("deadline %v from the start; want about %v", deadline.Sub(start), tt.wantWithin)
			}
		})
	}
}

func TestTimeoutExpires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ret         func(ctx context.Context) error // what the handler returns once ctx is done
		wantErr     bool
		wantWrapped []error
	}{
		{name: "returns ctx.Err()", ret: func(ctx context.Context) error { return ctx.Err() },
			wantErr: true, wantWrapped: []error{middleware.ErrTimeout, context.DeadlineExceeded}},
		{name: "returns the cause", ret: context.Cause, wantErr: true, wantWrapped: []error{middleware.ErrTimeout}},
		{name: "returns its own error", ret: func(context.Context) error { return errors.New("query aborted") },
			wantErr: true, wantWrapped: []error{middleware.ErrTimeout}},
		{name: "succeeds anyway", ret: func(context.Context) error { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cause error
			h := worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
				<-ctx.Done()
				cause = context.Cause(ctx)
				return tt.ret(ctx)
			})
			err := middleware.Timeout(5*time.Millisecond)(h).Handle(t.Context(), newMessage())
			if !errors.Is(cause, middleware.ErrTimeout) || !strings.Contains(cause.Error(), "after 5ms") {
				t.Errorf("cause = %v; want ErrTimeout after 5ms", cause)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v; want an error: %v", err, tt.wantErr)
			}
			for _, want := range tt.wantWrapped {
				if !errors.Is(err, want) {
					t.Errorf("err = %v; want it to wrap %v", err, want)
				}
			}
			if err != nil && strings.Count(err.Error(), "timed out") != 1 {
				t.Errorf("err = %q; want the timeout mentioned once", err)
			}
		})
	}
}

func TestTimeoutLeavesOtherCausesAlone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	h := worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		cancel(worker.ErrShutdown)
		<-ctx.Done()
		return ctx.Err()
	})
	err := middleware.Timeout(time.Hour)(h).Handle(ctx, newMessage())
	if !errors.Is(err, context.Canceled) || errors.Is(err, middleware.ErrTimeout) {
		t.Fatalf("err = %v; want context.Canceled, not ErrTimeout", err)
	}
}
