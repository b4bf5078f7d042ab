package middleware

import (
	"context"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
)

// Recover returns middleware that turns a panic in the handler it wraps into
// a *worker.PanicError, which holds the panic's value and the stack where it
// happened, and returns it as the handler's error. The process never dies of
// a handler's panic, and the middleware above Recover see an ordinary error.
//
// errors.As finds the *worker.PanicError in the returned error; when the
// panic's value is itself an error, errors.Is and errors.As also find that
// value, through PanicError's Unwrap.
//
// The worker counts a panic as a failed attempt: the message is retried
// later, or dead-lettered when its attempts are spent. Retry does not retry
// panics in-process.
func Recover() worker.Middleware {
	return func(next worker.Handler) worker.Handler {
		return worker.HandlerFunc(func(ctx context.Context, m *broker.Message) error {
			_, err := handle(ctx, next, m)
			return err
		})
	}
}
