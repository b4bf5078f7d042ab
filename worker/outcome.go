package worker

import (
	"cmp"
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

// Classify tells what the worker will do with m after its handler returned
// err, in the handler's context ctx. Middleware such as metrics uses it. A
// failure on m's last attempt (m.MaxAttempts, the budget the message was
// queued with) is dead; a Message built by hand, with no budget, counts
// against broker.MaxAttemptsDefault.
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
	if m.Attempt >= cmp.Or(m.MaxAttempts, broker.MaxAttemptsDefault) {
		return OutcomeDead
	}
	return OutcomeRetry
}
