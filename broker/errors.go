package broker

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by the broker wrap one of these, so callers
// can test them with errors.Is; the text around them says what was wrong.
var (
	// ErrLeaseLost means the caller no longer holds the message's lease: it
	// expired and the message went back to its queue (perhaps to another
	// worker). The call changed nothing.
	ErrLeaseLost = errors.New("broker: lease lost")
	// ErrUnknownQueue means the queue does not exist.
	ErrUnknownQueue = errors.New("broker: unknown queue")
	// ErrInvalidQueueName means a queue name is empty, longer than 128 bytes,
	// or has a character outside [A-Za-z0-9._-].
	ErrInvalidQueueName = errors.New("broker: invalid queue name")
	// ErrInvalidPattern means a queue's pattern is not a valid Go regular
	// expression, or a subscription's glob pattern is empty or too long.
	ErrInvalidPattern = errors.New("broker: invalid pattern")
	// ErrInvalidTopic means a topic is empty, longer than 1 KiB, or not UTF-8.
	ErrInvalidTopic = errors.New("broker: invalid topic")
	// ErrInvalidFacet means a facet is empty, longer than 1 KiB, or not UTF-8.
	ErrInvalidFacet = errors.New("broker: invalid facet")
	// ErrInvalidMessage means a message is nil or cannot be encoded.
	ErrInvalidMessage = errors.New("broker: invalid message")
	// ErrMessageTooLarge means an encoded message exceeds
	// Config.MaxMessageBytes.
	ErrMessageTooLarge = errors.New("broker: message too large")
	// ErrInvalidArgument means another argument is out of range: a negative
	// delay, a count below 1, a priority outside [0, MaxPriority].
	ErrInvalidArgument = errors.New("broker: invalid argument")
	// ErrNoQueue means a delivery that requires a queue (RequireQueue,
	// Config.Unrouted) has a topic that no registered queue's pattern
	// matches; the error names the topic.
	ErrNoQueue = errors.New("broker: no queue matches the topic")
	// ErrInvalidConfig means a Config field is out of range.
	ErrInvalidConfig = errors.New("broker: invalid config")
	// ErrConflict is returned when another process changed the same thing
	// at the same time, as two SetPartitions on one queue; try again.
	ErrConflict = errors.New("broker: conflicting change")
	// ErrPatternConflict means RegisterQueue was given a pattern other than
	// the one the queue is registered with. Nothing changed; pass
	// ReplacePattern to change the pattern on purpose.
	ErrPatternConflict = errors.New("broker: queue is registered with another pattern")
	// ErrRedisFull means Redis refused a write because it reached its
	// maxmemory under the noeviction policy (its "OOM" reply, which the
	// error also wraps). Nothing was written. Deliveries and new queues are
	// refused until memory is freed; acks, nacks, extends, releases, kills,
	// pulls and dead-letter purges keep working at the limit, so workers can
	// drain the queues that fill it (see docs/operators.md).
	ErrRedisFull = errors.New("broker: redis is full (maxmemory reached)")
)

// LeaseLostError is the ErrLeaseLost of one message. AckMany and Release
// join one per message whose lease was lost and settle the others, so a
// caller that settles a batch can tell which messages it no longer holds
// (errors.As on each joined error); it matches ErrLeaseLost with errors.Is.
type LeaseLostError struct {
	// Op is the call that found the lease lost: "ack", "release", "nack",
	// "kill" or "extend".
	Op string
	// Message is the message as the caller gave it.
	Message *Message
}

// Error names the call and the message.
func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("%v: %s of %s", ErrLeaseLost, e.Op, e.Message.ID)
}

// Unwrap makes the error match ErrLeaseLost.
func (e *LeaseLostError) Unwrap() error { return ErrLeaseLost }
