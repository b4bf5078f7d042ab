package broker

import (
	"errors"
	"fmt"
	"time"
)

// ErrForeignMessage means a message was given to a Broker of another
// namespace than the one it was pulled through. Message IDs and lease tokens
// are only unique within a namespace, so the same ID and token may name a
// message of the other namespace that nobody has handled: the broker refuses
// the message and changes nothing rather than act on the wrong one.
var ErrForeignMessage = errors.New("broker: message of another namespace")

// Message is a message leased from a queue. Pass it back to Ack, Nack,
// Extend or Release of a Broker of the same namespace; the lease token
// inside says who holds it, and a Broker of another namespace refuses it
// with ErrForeignMessage.
type Message struct {
	// ID identifies the message. A message delivered to several queues has
	// the same ID in each.
	ID string
	// Queue is the queue the message was pulled from.
	Queue string
	// Topic is the topic it was delivered with.
	Topic string
	// Facet is its facet, usually a tenant.
	Facet string
	// Body is exactly what was delivered.
	Body []byte
	// Attempt is 1 on the first delivery and grows with every redelivery.
	Attempt int
	// MaxAttempts is the message's budget, fixed when it was queued (see
	// Delivery.MaxAttempts): once Attempt reaches it, a failure (Nack) or
	// an expired lease makes the message a dead letter.
	MaxAttempts int
	// EnqueuedAt is when the message was delivered, to the millisecond.
	EnqueuedAt time.Time
	// Headers carries trace context and user metadata.
	Headers map[string]string
	// LeaseDeadline is when the lease ends, by Redis's clock, as of the last
	// Pull or Extend.
	LeaseDeadline time.Time
	// ExpiresAt is when the message expires if it has not started by then,
	// by Redis's clock (see Delivery.TTL); zero when it never does. A
	// message is pulled only before it, on its first delivery; its retries
	// run after it too, so a handler that must not run late checks it.
	ExpiresAt time.Time

	lease string
	part  string // the partition it was pulled from, when not Queue itself
	ns    string // the namespace of the Broker it was pulled through
}

// home is the queue in Redis that holds the message: its partition, or its
// queue when that is not partitioned.
func (m *Message) home() string {
	if m.part != "" {
		return m.part
	}
	return m.Queue
}

// String describes the message without its body.
func (m *Message) String() string {
	return fmt.Sprintf("message %s (queue %q, topic %q, facet %q, attempt %d)", m.ID, m.Queue, m.Topic, m.Facet, m.Attempt)
}

// checkLeased validates a message given back to the broker: one it leased,
// through a Broker of its own namespace.
func (b *Broker) checkLeased(m *Message) error {
	switch {
	case m == nil:
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	case m.lease == "":
		return fmt.Errorf("%w: %s was not pulled from this broker", ErrInvalidMessage, m.ID)
	case m.ns != b.cfg.Namespace:
		return fmt.Errorf("%w: %s was pulled from queue %q of namespace %q, not %q",
			ErrForeignMessage, m.ID, m.Queue, m.ns, b.cfg.Namespace)
	}
	return ValidateQueueName(m.Queue)
}
