package broker

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// WithTTL expires the message if it has not started d after the delivery
// (see Delivery.TTL). d below 1ms fails the delivery with
// ErrInvalidArgument.
func WithTTL(d time.Duration) DeliverOption {
	return func(x *Delivery) {
		if err := checkTTL("TTL", d); err != nil {
			x.setOptErr(err)
			return
		}
		x.TTL = d
	}
}

// WithExpiry expires the message if it has not started by t (see
// Delivery.ExpiresAt). A t that is not in the future fails the delivery
// with ErrInvalidArgument.
func WithExpiry(t time.Time) DeliverOption {
	return func(x *Delivery) {
		if t.IsZero() {
			x.setOptErr(fmt.Errorf("%w: WithExpiry of the zero time", ErrInvalidArgument))
			return
		}
		x.ExpiresAt = t
	}
}

// checkTTL refuses a TTL below 1ms, which Redis's millisecond clock cannot
// hold; what names it in the error.
func checkTTL(what string, d time.Duration) error {
	if d < time.Millisecond {
		return fmt.Errorf("%w: %s %v is below 1ms", ErrInvalidArgument, what, d)
	}
	return nil
}

// deliveryTTL is how long after the delivery d expires, 0 for never (or
// the queue's default), or an error for a TTL or expiry the message could
// never be pulled within: not in the future, or not beyond its delay.
// ExpiresAt becomes a TTL here, on the caller's clock, so the deadline
// enqueue.lua writes is on Redis's clock, whatever the skew between them.
func deliveryTTL(d *Delivery) (time.Duration, error) {
	ttl := d.TTL
	switch {
	case ttl != 0 && !d.ExpiresAt.IsZero():
		return 0, fmt.Errorf("%w: both TTL and ExpiresAt are set", ErrInvalidArgument)
	case ttl != 0:
		if err := checkTTL("TTL", ttl); err != nil {
			return 0, err
		}
	case !d.ExpiresAt.IsZero():
		ttl = time.Until(d.ExpiresAt)
		if ttl <= 0 {
			return 0, fmt.Errorf("%w: expiry %v is not in the future", ErrInvalidArgument, d.ExpiresAt)
		}
		if rem := ttl % time.Millisecond; rem != 0 && ttl < math.MaxInt64-time.Millisecond {
			ttl += time.Millisecond - rem // at least 1ms, as Redis counts
		}
	default:
		return 0, nil
	}
	if ttl <= d.Delay {
		return 0, fmt.Errorf("%w: TTL %v is not beyond the delay %v: the message would expire before it is due", ErrInvalidArgument, ttl, d.Delay)
	}
	return ttl, nil
}

// ownTTL is the enqueue option of a message whose delivery set its TTL (see
// enqueue.lua): no queue default replaces it.
func ownTTL(ttl time.Duration) string { return "+" + ms(ttl) + ";" }

// ExpiryPolicy says what becomes of a message whose deadline passed before
// it started (see Delivery.TTL), when its turn comes.
type ExpiryPolicy int

const (
	// ExpireDeadLetter makes an expired message a dead letter with the
	// reason "expired", where it can be inspected and requeued. The default.
	ExpireDeadLetter ExpiryPolicy = iota
	// ExpireDrop deletes an expired message; Stats.Expired still counts it.
	ExpireDrop
)

// String is the policy's name: "dead-letter" or "drop".
func (p ExpiryPolicy) String() string {
	switch p {
	case ExpireDeadLetter:
		return "dead-letter"
	case ExpireDrop:
		return "drop"
	}
	return "ExpiryPolicy(" + strconv.Itoa(int(p)) + ")"
}

// SetMessageTTL sets queue's default time to live: a message queued on it
// from now on whose delivery sets no TTL (WithTTL, WithExpiry) expires if
// it has not started d after its delivery, on Redis's clock. 0 removes the
// default. Messages already queued keep their deadline, or none. A
// partitioned queue holds it on every partition.
func (b *Broker) SetMessageTTL(ctx context.Context, queue string, d time.Duration) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	v := ""
	if d != 0 {
		if err := checkTTL("message TTL", d); err != nil {
			return err
		}
		v = ms(d)
	}
	return b.queueSetting(ctx, "set message TTL", queue, scriptSettings, "ttl", v)
}

// SetExpiryPolicy sets what becomes of queue's messages that reach their
// turn after their deadline, whether it came from the delivery or from the
// queue's default TTL. A partitioned queue holds it on every partition.
func (b *Broker) SetExpiryPolicy(ctx context.Context, queue string, p ExpiryPolicy) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	var v string
	switch p {
	case ExpireDeadLetter:
	case ExpireDrop:
		v = "drop"
	default:
		return fmt.Errorf("%w: expiry policy %d", ErrInvalidArgument, p)
	}
	return b.queueSetting(ctx, "set expiry policy", queue, scriptSettings, "expiry", v)
}
