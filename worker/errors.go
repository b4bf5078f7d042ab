package worker

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// Errors and causes of the worker.
var (
	// ErrSkipRetry marks a handler error that retrying cannot fix: the
	// message becomes a dead letter at once. Wrap with SkipRetry.
	ErrSkipRetry = errors.New("worker: do not retry")
	// ErrShutdown is the cause of a handler's context when the worker stops
	// before the handler finished within Config.ShutdownTimeout. Its message
	// goes back to the queue without counting the attempt.
	ErrShutdown = errors.New("worker: shutting down")
	// ErrLeaseLost is the cause of a handler's context when its lease was
	// lost: another worker may have the message now.
	ErrLeaseLost = broker.ErrLeaseLost
	// ErrInvalidRegistration means Handle was given a bad queue or handler.
	ErrInvalidRegistration = errors.New("worker: invalid registration")
	// ErrQueueMissing means a queue the worker serves does not exist in
	// Redis (never registered, or lost with Redis's data) and the worker has
	// no pattern to create it with (Config.Routes). Start fails with it;
	// later, Ready reports it.
	ErrQueueMissing = errors.New("worker: queue missing")
	// ErrAlreadyStarted means Start or Run was called on a running worker.
	ErrAlreadyStarted = errors.New("worker: already started")
)

// SkipRetry wraps err so that the message becomes a dead letter at once.
func SkipRetry(err error) error {
	if err == nil {
		err = errors.New("handler gave up")
	}
	return fmt.Errorf("%w: %w", ErrSkipRetry, err)
}

// RetryAfterError asks for the next attempt after Delay rather than after
// the backoff. Make one with RetryAfter.
type RetryAfterError struct {
	Err   error
	Delay time.Duration
}

// RetryAfter wraps err so that the message is retried after d.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		err = errors.New("retry requested")
	}
	return &RetryAfterError{Err: err, Delay: d}
}

// Error describes the error and the delay.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.Delay)
}

// Unwrap returns the wrapped error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// PanicError is a handler's panic turned into an error, with the panic's
// value and the stack where it happened.
type PanicError struct {
	Value any
	Stack []byte
}

// NewPanicError captures the current stack; call it from the deferred
// function that recovered value.
func NewPanicError(value any) *PanicError {
	return &PanicError{Value: value, Stack: debug.Stack()}
}

// Error describes the panic (without the stack).
func (e *PanicError) Error() string { return fmt.Sprintf("worker: handler panicked: %v", e.Value) }

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
