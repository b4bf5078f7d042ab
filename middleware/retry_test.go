package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
)

// fastRetry keeps tests quick: pauses of 1 to 2ms.
var fastRetry = []middleware.RetryOption{
	middleware.WithInitialInterval(time.Millisecond),
	middleware.WithMaxInterval(2 * time.Millisecond),
}

// failing returns a handler that fails with errs[i] on its i-th call, and
// succeeds once errs runs out, and the count of its calls.
func failing(errs ...error) (worker.Handler, *atomic.Int32) {
	var calls atomic.Int32
	return worker.HandlerFunc(func(context.Context, *broker.Message) error {
		n := int(calls.Add(1))
		if n <= len(errs) {
			return errs[n-1]
		}
		return nil
	}), &calls
}

func TestRetry(t *testing.T) {
	t.Parallel()
	transient := func(i int) error { return fmt.Errorf("transient %d", i) }
	skip := worker.SkipRetry(errors.New("bad input"))
	later := worker.RetryAfter(errors.New("rate limited"), time.Minute)
	panicked := worker.NewPanicError("boom")
	tests := []struct {
		name      string
		opts      []middleware.RetryOption
		errs      []error
		wantCalls int32
		wantErr   error // nil: success
	}{
		{name: "succeeds on the third try", errs: []error{transient(1), transient(2)}, wantCalls: 3},
		{name: "gives up after the default 3 tries", errs: []error{transient(1), transient(2), transient(3), nil}, wantCalls: 3, wantErr: nil},
		{name: "gives up after max tries with the last error", opts: []middleware.RetryOption{middleware.WithMaxTries(4)},
			errs: []error{transient(1), transient(2), transient(3), transient(4), transient(5)}, wantCalls: 4},
		{name: "max tries 1 turns retrying off", opts: []middleware.RetryOption{middleware.WithMaxTries(1)},
			errs: []error{transient(1)}, wantCalls: 1},
		{name: "max tries 0 is ignored", opts: []middleware.RetryOption{middleware.WithMaxTries(0), nil},
			errs: []error{transient(1), transient(2)}, wantCalls: 3},
		{name: "does not retry SkipRetry", errs: []error{skip}, wantCalls: 1, wantErr: skip},
		{name: "does not retry RetryAfter", errs: []error{later}, wantCalls: 1, wantErr: later},
		{name: "does not retry a panic", errs: []error{panicked}, wantCalls: 1, wantErr: panicked},
		{name: "does not retry context.Canceled", errs: []error{fmt.Errorf("query: %w", context.Canceled)}, wantCalls: 1, wantErr: context.Canceled},
		{name: "custom predicate", opts: []middleware.RetryOption{middleware.WithRetryIf(func(error) bool { return false })},
			errs: []error{transient(1)}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, calls := failing(tt.errs...)
			err := middleware.Retry(append(tt.opts, fastRetry...)...)(h).Handle(t.Context(), newMessage())
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("handler called %d times; want %d", got, tt.wantCalls)
			}
			want := tt.wantErr
			if want == nil && int(tt.wantCalls) <= len(tt.errs) {
				want = tt.errs[tt.wantCalls-1] // the last try's error
			}
			if want == nil {
				if err != nil {
					t.Fatalf("err = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, want) {
				t.Fatalf("err = %v; want %v", err, want)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	transient := errors.New("transient")
	stopped := errors.New("lease lost in test")
	tests := []struct {
		name    string
		during  string // when the context ends: "handler" or "pause"
		wantErr []error
	}{
		{name: "ended during the handler", during: "handler", wantErr: []error{transient}},
		{name: "ended during the pause", during: "pause", wantErr: []error{transient, stopped}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			var calls atomic.Int32
			h := worker.HandlerFunc(func(context.Context, *broker.Message) error {
				calls.Add(1)
				if tt.during == "handler" {
					cancel(stopped)
				}
				return transient
			})
			// The predicate runs just before the pause: ending the context
			// there ends it during the pause, deterministically.
			retryIf := func(err error) bool {
				if tt.during == "pause" {
					cancel(stopped)
				}
				return middleware.Retryable(err)
			}
			// An hour's pause: the test would time out if Retry slept.
			mw := middleware.Retry(middleware.WithInitialInterval(time.Hour), middleware.WithRetryIf(retryIf))
			err := mw(h).Handle(ctx, newMessage())
			if got := calls.Load(); got != 1 {
				t.Errorf("handler called %d times; want 1", got)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v; want it to wrap %v", err, want)
				}
			}
			if tt.during == "handler" && err != transient { //nolint:errorlint // must be the handler's error itself
				t.Errorf("err = %v; want the handler's error unchanged", err)
			}
		})
	}
}

func TestRetryDoesNotSleepPastDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	h, calls := failing(errors.New("transient"))
	// The first pause is at least 30 minutes, past the deadline.
	err := middleware.Retry(middleware.WithInitialInterval(time.Hour))(h).Handle(ctx, newMessage())
	if err == nil || calls.Load() != 1 {
		t.Fatalf("err = %v after %d calls; want the first error after 1 call", err, calls.Load())
	}
	if ctx.Err() != nil {
		t.Fatalf("Retry returned only when the context ended: %v", ctx.Err())
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New("connection reset"), true},
		{fmt.Errorf("wrapped: %w", errors.New("x")), true},
		{nil, false},
		{worker.SkipRetry(nil), false},
		{worker.RetryAfter(nil, time.Second), false},
		{fmt.Errorf("wrapped: %w", worker.NewPanicError("x")), false},
		{context.Canceled, false},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), false},
		{middleware.ErrTimeout, false},
		{worker.ErrShutdown, false},
		{worker.ErrLeaseLost, false},
	}
	for _, tt := range tests {
		if got := middleware.Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetryAddsSpanEvents(t *testing.T) {
	t.Parallel()
	tp, rec := newTracing(t)
	ctx, span := tp.Tracer("test").Start(t.Context(), "handle")
	h, _ := failing(errors.New("first"), errors.New("second"))
	if err := middleware.Retry(fastRetry...)(h).Handle(ctx, newMessage()); err != nil {
		t.Fatal(err)
	}
	span.End()
	events := onlySpan(t, rec).Events()
	if len(events) != 2 {
		t.Fatalf("%d span events; want 2 retries: %v", len(events), events)
	}
	for i, e := range events {
		if e.Name != "fairway.retry" {
			t.Errorf("event %d is %q; want fairway.retry", i, e.Name)
		}
	}
}
