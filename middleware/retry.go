package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Retry's options.
const (
	RetryMaxTriesDefault        = 3
	RetryInitialIntervalDefault = 50 * time.Millisecond
	RetryMaxIntervalDefault     = time.Second
)

// RetryOption configures Retry.
type RetryOption func(*retryConfig)

type retryConfig struct {
	maxTries  int
	initial   time.Duration
	max       time.Duration
	retryable func(error) bool
}

// WithMaxTries sets how many times Retry calls the handler for one delivery,
// the first call included; 1 turns retrying off. Values below 1 are ignored.
// Defaults to 3.
func WithMaxTries(n int) RetryOption {
	return func(c *retryConfig) {
		if n >= 1 {
			c.maxTries = n
		}
	}
}

// WithInitialInterval sets the pause before the second try; later pauses
// double, with ±50% jitter, up to the max interval. Values of zero or less
// are ignored. Defaults to 50ms.
func WithInitialInterval(d time.Duration) RetryOption {
	return func(c *retryConfig) {
		if d > 0 {
			c.initial = d
		}
	}
}

// WithMaxInterval caps the pause between tries, before jitter. Values of zero
// or less are ignored, and a cap below the initial interval is raised to it.
// Defaults to 1s.
func WithMaxInterval(d time.Duration) RetryOption {
	return func(c *retryConfig) {
		if d > 0 {
			c.max = d
		}
	}
}

// WithRetryIf sets the predicate that decides whether a handler's error is
// worth another try; nil is ignored. Defaults to Retryable.
func WithRetryIf(f func(error) bool) RetryOption {
	return func(c *retryConfig) {
		if f != nil {
			c.retryable = f
		}
	}
}

// Retryable is Retry's default predicate. It reports false for errors that
// another try within the same delivery cannot fix or must not hide: those
// wrapping worker.ErrSkipRetry (the message is dead), a
// *worker.RetryAfterError (the handler chose its own delay), a
// *worker.PanicError (a bug), and errors of a context that ended
// (context.Canceled, context.DeadlineExceeded, ErrTimeout,
// worker.ErrShutdown, worker.ErrLeaseLost). It reports true for any other
// error.
func Retryable(err error) bool {
	var (
		ra *worker.RetryAfterError
		pe *worker.PanicError
	)
	switch {
	case err == nil, errors.As(err, &ra), errors.As(err, &pe):
		return false
	}
	for _, target := range []error{
		worker.ErrSkipRetry, context.Canceled, context.DeadlineExceeded,
		ErrTimeout, worker.ErrShutdown, worker.ErrLeaseLost,
	} {
		if errors.Is(err, target) {
			return false
		}
	}
	return true
}

// Retry returns middleware that calls the handler again, within the same
// delivery, when it fails with an error that is Retryable (see WithRetryIf),
// pausing with exponential backoff and jitter between tries. It is meant for
// quick, transient failures; the worker's durable retries handle the rest.
//
// Retry stops, and returns the handler's last error to the caller, when the
// handler succeeds, when the error is not retryable, when the tries run out
// (see WithMaxTries), when the context ends, or when the next pause would end
// after the context's deadline. A pause cut short by the end of the context
// returns the last error wrapped with the context's cause.
//
// Each retry adds a "fairway.retry" event to the current span, if any.
func Retry(opts ...RetryOption) worker.Middleware {
	c := retryConfig{
		maxTries:  RetryMaxTriesDefault,
		initial:   RetryInitialIntervalDefault,
		max:       RetryMaxIntervalDefault,
		retryable: Retryable,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	c.max = max(c.max, c.initial)
	return func(next worker.Handler) worker.Handler {
		return &retryHandler{next: next, cfg: c}
	}
}

// retryHandler is the handler made by Retry.
type retryHandler struct {
	next worker.Handler
	cfg  retryConfig
}

var _ worker.Handler = (*retryHandler)(nil)

// Handle calls the next handler until it succeeds or Retry must stop.
func (r *retryHandler) Handle(ctx context.Context, m *broker.Message) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(r.cfg.initial),
		backoff.WithMaxInterval(r.cfg.max),
		backoff.WithMaxElapsedTime(0),
	)
	for try := 1; ; try++ {
		err := r.next.Handle(ctx, m)
		if err == nil || try >= r.cfg.maxTries || ctx.Err() != nil || !r.cfg.retryable(err) {
			return err
		}
		again, cause := pause(ctx, b.NextBackOff())
		if cause != nil {
			return fmt.Errorf("%w (retry stopped: %w)", err, cause)
		}
		if !again {
			return err
		}
		trace.SpanFromContext(ctx).AddEvent("fairway.retry", trace.WithAttributes(
			attribute.Int("fairway.retry.try", try+1),
			attribute.String("fairway.retry.error", err.Error()),
		))
	}
}

// pause waits d. It reports false without waiting when ctx's deadline would
// pass first, and false with ctx's cause when ctx ends during the wait.
func pause(ctx context.Context, d time.Duration) (bool, error) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return false, context.Cause(ctx)
	}
}
