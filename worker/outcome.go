package worker

import (
	"cmp"
	"context"
	"errors"

	"github.com/fairwayhq/fairway/broker"
)

// Outcome is what the worker did with a message once its handler returned,
// as Observer's Report tells it.
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
	// OutcomeLost is a message the worker does not hold any more: its
	// lease was lost (while handling, or when acking, nacking, killing or
	// releasing it), or the broker call failed until the lease ended.
	// Another worker may hold the message now, or will when its lease
	// ends. An ack that arrives after another run has already settled the
	// message is reported as an ack: Redis keeps nothing by which to tell
	// it from a retried ack whose first reply was lost.
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

// classify decides what the worker does with m after its handler returned
// err, in the handler's context ctx. A failure on m's last attempt
// (m.MaxAttempts, the budget the message was queued with) is dead; a Message
// built by hand, with no budget, counts against broker.MaxAttemptsDefault.
// The worker acts on it and reports what it did (Report); nothing else
// decides it.
func classify(ctx context.Context, m *broker.Message, err error) Outcome {
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
