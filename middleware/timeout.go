package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
)

// ErrTimeout is the cause of a handler's context when Timeout's deadline
// passed: context.Cause(ctx) wraps it.
var ErrTimeout = errors.New("middleware: handler timed out")

// Timeout returns middleware that gives the handler's context a deadline d
// from the start of the call, with a cause that wraps ErrTimeout. A deadline
// the context already has and that comes sooner, such as the worker's, stays.
//
// When the deadline passed and the handler returned an error, the error is
// wrapped with the cause, so errors.Is(err, ErrTimeout) reports true even if
// the handler returned a bare context.DeadlineExceeded. A handler that
// returns nil succeeded, late or not. A d of zero or less adds no deadline.
//
// The handler must watch its context: Go cannot stop a goroutine, so a
// handler that ignores ctx.Done() runs on after its deadline.
func Timeout(d time.Duration) worker.Middleware {
	if d <= 0 {
		return func(next worker.Handler) worker.Handler { return next }
	}
	cause := fmt.Errorf("%w after %v", ErrTimeout, d)
	return func(next worker.Handler) worker.Handler {
		return worker.HandlerFunc(func(ctx context.Context, m *broker.Message) error {
			ctx, cancel := context.WithTimeoutCause(ctx, d, cause)
			defer cancel()
			err := next.Handle(ctx, m)
			// Compare with this Timeout's own cause: a parent's deadline or
			// an outer Timeout is not ours to report.
			if err != nil && errors.Is(context.Cause(ctx), cause) && !errors.Is(err, cause) {
				err = fmt.Errorf("%w: %w", cause, err)
			}
			return err
		})
	}
}
