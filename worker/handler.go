package worker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fairwayhq/fairway/broker"
)

// Handler processes one message. Returning nil acks it; returning an error
// retries it later (see Config.RetryBackoff), or dead-letters it once its
// attempts are spent or when the error wraps SkipRetry. RetryAfter sets the
// delay. The context ends when the lease is lost or the worker stops.
type Handler interface {
	Handle(ctx context.Context, m *broker.Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m *broker.Message) error

var _ Handler = HandlerFunc(nil)

// Handle calls f(ctx, m).
func (f HandlerFunc) Handle(ctx context.Context, m *broker.Message) error { return f(ctx, m) }

// Middleware wraps a Handler; the first one given to Use is the outermost.
type Middleware = func(Handler) Handler

// JSON adapts a function of a typed message to Handler: the body is decoded
// from JSON into a T first. A body that does not decode can never succeed, so
// its error wraps SkipRetry and the message becomes a dead letter at once.
func JSON[T any](f func(ctx context.Context, v T) error) Handler {
	return HandlerFunc(func(ctx context.Context, m *broker.Message) error {
		var v T
		if err := json.Unmarshal(m.Body, &v); err != nil {
			return SkipRetry(fmt.Errorf("worker: decode %s: %w", m.ID, err))
		}
		return f(ctx, v)
	})
}

// chain wraps h in middleware, the first given outermost.
func chain(h Handler, mws []Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
