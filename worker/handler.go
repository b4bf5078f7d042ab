package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

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
			return &DecodeError{ID: m.ID, Type: reflect.TypeFor[T]().String(), Err: err}
		}
		return f(ctx, v)
	})
}

// DecodeError is a message body that JSON could not decode into the type a
// JSON handler takes. It reads as one sentence, which is the reason its dead
// letter keeps: "message 0K3… body is not valid JSON for main.Email:
// invalid character 'x' looking for beginning of value at byte 1" (bytes
// count from 1), or "message 0K3… body does not fit main.Email: field
// "n" is a JSON string, not a Go int". It matches ErrSkipRetry (errors.Is):
// retrying cannot fix the body.
type DecodeError struct {
	ID   string // the message's ID
	Type string // the Go type the body was decoded into
	Err  error  // encoding/json's error
}

// Error says which message, which type, what is wrong and where.
func (e *DecodeError) Error() string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(e.Err, &syn) && syn.Offset == 0:
		return fmt.Sprintf("message %s body is not valid JSON for %s: it is empty", e.ID, e.Type)
	case errors.As(e.Err, &syn) && strings.HasPrefix(syn.Error(), "unexpected end"):
		return fmt.Sprintf("message %s body is not valid JSON for %s: it ends after byte %d, inside a value", e.ID, e.Type, syn.Offset)
	case errors.As(e.Err, &syn):
		return fmt.Sprintf("message %s body is not valid JSON for %s: %s at byte %d", e.ID, e.Type, syn.Error(), syn.Offset)
	case errors.As(e.Err, &typ) && typ.Field == "":
		return fmt.Sprintf("message %s body does not fit %s: it is a JSON %s", e.ID, e.Type, typ.Value)
	case errors.As(e.Err, &typ):
		return fmt.Sprintf("message %s body does not fit %s: field %s is a JSON %s, not a Go %s", e.ID, e.Type, strconv.Quote(typ.Field), typ.Value, typ.Type)
	}
	return fmt.Sprintf("message %s body does not decode as JSON into %s: %s", e.ID, e.Type, strings.TrimPrefix(e.Err.Error(), "json: "))
}

// Is makes a DecodeError match ErrSkipRetry.
func (e *DecodeError) Is(target error) bool { return target == ErrSkipRetry }

// Unwrap returns encoding/json's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// chain wraps h in middleware, the first given outermost.
func chain(h Handler, mws []Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
