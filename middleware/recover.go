package middleware

import (
	"context"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
)

// Recover returns middleware that turns a panic in the handler it wraps into
// a *worker.PanicError, which holds the panic's value and the stack where it
// happened, and returns it as the handler's error.
//
// A Worker needs none: it recovers a handler's panic itself, once, into the
// same *worker.PanicError, and reports it to its observers. Recover is for
// code that calls a worker.Handler itself (a test, a handler that runs
// others), or for middleware of one's own that must see a panic as an error
// rather than have it pass through.
//
// errors.As finds the *worker.PanicError in the returned error; when the
// panic's value is itself an error, errors.Is and errors.As also find that
// value, through PanicError's Unwrap.
func Recover() worker.Middleware {
	return func(next worker.Handler) worker.Handler {
		return worker.HandlerFunc(func(ctx context.Context, m *broker.Message) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = worker.NewPanicError(v)
				}
			}()
			return next.Handle(ctx, m)
		})
	}
}
