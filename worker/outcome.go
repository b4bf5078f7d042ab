package worker

import (
	"context"
	"errors"

	"github.com/fairwayhq/fairway/broker"
)

// Outcome is what the worker does with a message once its handler returned.
type Outcome int

// The outcomes.
const (
	// OutcomeAck deletes the message: the handler succeeded.
	OutcomeAck Outcome = iota
	// OutcomeRetry schedules another attempt after a delay.
	OutcomeRetry
	// OutcomeDead makes the message a dead letter.
	OutcomeDead
	// OutcomeRelease hands the message back without counting the attempt:
	// the worker stopped before the handler finished.
	OutcomeRelease
	// OutcomeLost does nothing: the lease was lost, another worker may hold
	// the message now.
	OutcomeLost
)

// String names the outcome: "ack", "retry", "dead", "release" or "lost".
func (o Outcome) String() string {
	switch o {
	case OutcomeAck:
		return "ack"
	case OutcomeRetry:
		return "retry"
	case OutcomeDead:
		return "dead"
	case OutcomeRelease:
		return "release"
	default:
		return "lost"
	}
}

type maxAttemptsKey struct{}

// Classify tells what the worker will do with m after its handler returned
// err, in the handler's context ctx. Middleware such as metrics uses it.
func Classify(ctx context.Context, m *broker.Message, err error) Outcome {
	switch cause := context.Cause(ctx); {
	case err == nil:
		return OutcomeAck
	case errors.Is(cause, ErrShutdown):
		return OutcomeRelease
	case errors.Is(cause, ErrLeaseLost):
		return OutcomeLost
	case errors.Is(err, ErrSkipRetry):
		return OutcomeDead
	}
	maxAttempts, ok := ctx.Value(maxAttemptsKey{}).(int)
	if !ok {
		maxAttempts = broker.MaxAttemptsDefault
	}
	if m.Attempt >= maxAttempts {
		return OutcomeDead
	}
	return OutcomeRetry
}
