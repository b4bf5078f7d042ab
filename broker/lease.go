package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Results of the lease scripts.
const (
	leaseOK   = 1
	leaseGone = 0
	leaseLost = -1
)

// Ack deletes a message whose processing is done. It returns ErrLeaseLost,
// and changes nothing, when the lease expired and the message went back to
// its queue. Acking a message twice is harmless.
func (b *Broker) Ack(ctx context.Context, m *Message) error {
	return b.AckMany(ctx, []*Message{m})
}

// AckMany acks messages of one or more queues, one round trip per queue. The
// error joins one ErrLeaseLost per message whose lease was lost; the others
// are acked all the same.
func (b *Broker) AckMany(ctx context.Context, ms []*Message) error {
	return b.leaseBatch(ctx, scriptAck, "ack", ms)
}

// Release hands leased messages back to the head of their facets without
// counting the attempt, as a worker does with work it could not start or
// finish before shutting down.
func (b *Broker) Release(ctx context.Context, ms ...*Message) error {
	return b.leaseBatch(ctx, scriptRelease, "release", ms)
}

func (b *Broker) leaseBatch(ctx context.Context, s *redis.Script, op string, ms []*Message) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	byQueue := make(map[string][]*Message)
	var order []string
	for _, m := range ms {
		if err := b.checkLeased(m); err != nil {
			return err
		}
		home := m.home()
		if _, ok := byQueue[home]; !ok {
			order = append(order, home)
		}
		byQueue[home] = append(byQueue[home], m)
	}
	if len(order) == 1 { // the common case: no pipeline needed
		group := byQueue[order[0]]
		codes, err := b.runQueue(ctx, s, order[0], leaseArgs(group)...).Int64Slice()
		// Config.ReplicaAcks (durability.go)
		return errors.Join(leaseErrors(op, group, codes, err), b.awaitReplicas(ctx, slices.Values(order)))
	}
	// One script per queue (or partition), all in one pipeline: on a
	// cluster, go-redis sends each node its part at once.
	ctx, cancel := b.bounded(ctx) // release calls carry replay markers (replay.go)
	defer cancel()
	calls := make([]*scriptCall, len(order))
	for i, q := range order {
		calls[i] = b.queueCall(s, q, leaseArgs(byQueue[q])...)
	}
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			c.queue(ctx, p)
		}
		return nil
	})
	if err := rerunLost(ctx, b.rdb, calls); err != nil {
		return wrapRedis(op, err)
	}
	var errs []error
	for i, c := range calls {
		codes, err := c.cmd.Int64Slice()
		if err := leaseErrors(op, byQueue[order[i]], codes, err); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, b.awaitReplicas(ctx, slices.Values(order))) // Config.ReplicaAcks (durability.go)
	return errors.Join(errs...)
}

// leaseArgs are the lease scripts' arguments: the lease of each message,
// its member of the leased zset as pull.lua handed it out.
func leaseArgs(group []*Message) []any {
	args := make([]any, 0, len(group))
	for _, m := range group {
		args = append(args, m.lease)
	}
	return args
}

// leaseErrors turns a lease script's reply into one ErrLeaseLost per lost
// lease, or the Redis error.
func leaseErrors(op string, group []*Message, codes []int64, err error) error {
	if err != nil {
		return wrapRedis(op, err)
	}
	var errs []error
	for i, code := range codes {
		if code == leaseLost {
			errs = append(errs, &LeaseLostError{Op: op, Message: group[i]})
		}
	}
	return errors.Join(errs...)
}

// NackOption changes a Nack.
type NackOption func(*nackOptions)

type nackOptions struct {
	reason string
	stack  string // WithStack
	kill   bool
}

// WithReason records why processing failed; a message that becomes a dead
// letter keeps the reason of its last failure.
func WithReason(err error) NackOption {
	return func(o *nackOptions) {
		if err != nil {
			o.reason = err.Error()
		}
	}
}

// Nack ends the lease of a message whose processing failed. The message is
// retried after delay, fairly, in its facet; once it has had m.MaxAttempts
// deliveries it becomes a dead letter instead.
func (b *Broker) Nack(ctx context.Context, m *Message, delay time.Duration, opts ...NackOption) error {
	if delay < 0 {
		return fmt.Errorf("%w: negative delay %v", ErrInvalidArgument, delay)
	}
	o := nackOptions{reason: "nacked"}
	for _, opt := range opts {
		opt(&o)
	}
	return b.nack(ctx, m, delay, o)
}

// Kill makes a leased message a dead letter now, whatever its attempts, with
// reason kept beside it. WithStack keeps a stack too; the other options
// change nothing here.
func (b *Broker) Kill(ctx context.Context, m *Message, reason string, opts ...NackOption) error {
	var o nackOptions
	for _, opt := range opts {
		if opt == nil {
			return fmt.Errorf("%w: nil option to Kill", ErrInvalidArgument)
		}
		opt(&o)
	}
	return b.nack(ctx, m, 0, nackOptions{reason: reason, stack: o.stack, kill: true})
}

// maxReasonBytes bounds the reason kept with a dead letter.
const maxReasonBytes = 4096

func (b *Broker) nack(ctx context.Context, m *Message, delay time.Duration, o nackOptions) error {
	if err := b.checkLeased(m); err != nil {
		return err
	}
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	// A Message built by hand has no budget: it gets the broker's, as one
	// stored without a budget does.
	maxAttempts := cmp.Or(m.MaxAttempts, b.cfg.MaxAttempts)
	if err := checkMaxAttempts(maxAttempts); err != nil {
		return err
	}
	if len(o.reason) > maxReasonBytes {
		o.reason = o.reason[:maxReasonBytes]
	}
	op, kill := "nack", "0"
	if o.kill {
		op, kill = "kill", "1"
	}
	code, err := b.runQueue(ctx, scriptNack, m.home(), m.lease, ms(delay),
		maxAttempts, b.cfg.DeadLetterCap, deadReason(o.reason, o.stack), kill).Int64()
	if err != nil {
		return wrapRedis(op, err)
	}
	if code <= leaseGone {
		return &LeaseLostError{Op: op, Message: m}
	}
	return b.awaitReplicas(ctx, slices.Values([]string{m.home()})) // Config.ReplicaAcks (durability.go)
}

// Extend makes the lease of m end d from now, by Redis's clock. It returns
// ErrLeaseLost when the lease was lost.
func (b *Broker) Extend(ctx context.Context, m *Message, d time.Duration) error {
	if err := b.checkLeased(m); err != nil {
		return err
	}
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if d < time.Millisecond {
		return fmt.Errorf("%w: lease %v is below 1ms", ErrInvalidArgument, d)
	}
	deadline, err := b.runQueue(ctx, scriptExtend, m.home(), m.lease, ms(d)).Int64()
	if err != nil {
		return wrapRedis("extend", err)
	}
	if deadline <= leaseGone {
		return &LeaseLostError{Op: "extend", Message: m}
	}
	m.LeaseDeadline = time.UnixMilli(deadline)
	return nil
}

// leaseFacet is the facet of a lease, the member of the leased zset
// "<id>|<token>|<attempt>|<facet>" (see lease_member in lib.lua), or false
// for a member of another shape.
func leaseFacet(lease string) (string, bool) {
	parts := strings.SplitN(lease, "|", 4)
	if len(parts) != 4 {
		return "", false
	}
	return parts[3], true
}

// leasesByFacet counts leases by facet.
func leasesByFacet(leases []string) map[string]int64 {
	n := make(map[string]int64)
	for _, l := range leases {
		if f, ok := leaseFacet(l); ok {
			n[f]++
		}
	}
	return n
}
