package broker

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// Pull leases the next message of queue, taking facets in turn. It returns
// (nil, nil) when no message is ready.
func (b *Broker) Pull(ctx context.Context, queue string) (*Message, error) {
	ms, err := b.PullN(ctx, queue, 1)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return ms[0], nil
}

// PullN leases up to n messages of queue in one round trip, taking facets in
// turn as n Pulls would. It returns an empty slice when none is ready. Before
// it leases, it moves expired leases and due delayed messages back to their
// facets (at most Config.ReclaimBatch of each), so a program that uses the
// broker alone still gets redeliveries and retries.
func (b *Broker) PullN(ctx context.Context, queue string, n int) ([]*Message, error) {
	r, err := b.pull(ctx, queue, n, b.cfg.LeaseDuration)
	return r.Messages, err
}

// PullOptions changes what PullWith leases.
type PullOptions struct {
	// Count is the most messages to lease, 1 to MaxPullBatch.
	// Defaults to 1.
	Count int
	// Lease is how long the messages are leased, at least 1ms.
	// Defaults to Config.LeaseDuration.
	Lease time.Duration
}

// PullResult is what PullWith leased, and when to try again.
type PullResult struct {
	// Messages are the messages leased, at most the Count asked for.
	Messages []*Message
	// Now is Redis's clock when the pull ran.
	Now time.Time
	// NextReadyAt is, when fewer than Count messages were leased, the time
	// on Redis's clock at which the first facet held back by its rate limit
	// may be pulled again; it is zero when no facet is held back. A
	// consumer that found nothing can sleep for NextReadyAt.Sub(Now). On a
	// partitioned queue of a Cluster, whose nodes have clocks of their own,
	// Now is the last partition's clock and NextReadyAt.Sub(Now) the
	// shortest wait, each measured on its own node's clock.
	NextReadyAt time.Time
}

// PullWith is PullN with options (a lease other than Config.LeaseDuration)
// that also reports when a facet held back by its rate limit frees up, so
// that a consumer can wait for it without polling.
func (b *Broker) PullWith(ctx context.Context, queue string, o PullOptions) (PullResult, error) {
	if o.Lease == 0 {
		o.Lease = b.cfg.LeaseDuration
	}
	if o.Count == 0 {
		o.Count = 1
	}
	return b.pull(ctx, queue, o.Count, o.Lease)
}

// pull leases up to n messages of queue for lease.
func (b *Broker) pull(ctx context.Context, queue string, n int, lease time.Duration) (PullResult, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return PullResult{}, err
	}
	if n < 1 || n > MaxPullBatch {
		return PullResult{}, fmt.Errorf("%w: pull count %d is outside [1, %d]", ErrInvalidArgument, n, MaxPullBatch)
	}
	if lease < time.Millisecond {
		return PullResult{}, fmt.Errorf("%w: lease %v is below 1ms", ErrInvalidArgument, lease)
	}
	p, err := b.partitions(ctx, queue, 0)
	if err != nil {
		return PullResult{}, err
	}
	if p.simple() {
		var r PullResult
		st, err := b.pullPartition(ctx, queue, p.Names[0], n, lease, &r)
		if err != nil && len(r.Messages) == 0 {
			return PullResult{}, err
		}
		if st.retired {
			b.reg.invalidate() // the queue was partitioned since
		}
		return r.done(n), nil
	}
	return b.pullPartitioned(ctx, queue, p, n, lease)
}

// setClock makes now, one partition's clock, r's Now, and NextReadyAt the
// earliest of the waits so far, next (that partition's time its first held
// back facet frees, 0 for none) among them. Partitions on different nodes
// of a Cluster have clocks of their own, so only the waits, each measured
// on one node's clock, are compared, and NextReadyAt.Sub(Now) is that wait.
func (r *PullResult) setClock(now time.Time, next int64) {
	wait := time.Duration(-1)
	if !r.NextReadyAt.IsZero() {
		wait = r.NextReadyAt.Sub(r.Now)
	}
	if next > 0 {
		if w := time.UnixMilli(next).Sub(now); wait < 0 || w < wait {
			wait = w
		}
	}
	r.Now = now
	if wait >= 0 {
		r.NextReadyAt = now.Add(wait)
	}
}

// done clears NextReadyAt when r holds all n messages asked for.
func (r PullResult) done(n int) PullResult {
	if len(r.Messages) == n {
		r.NextReadyAt = time.Time{}
	}
	return r
}

// pullPartition leases up to n-len(r.Messages) messages of one partition of
// queue (queue itself when it is not partitioned) into r, calling pull.lua
// again while it stopped at its bound on skipped turns or found expired
// messages. It returns the partition's state after the last call.
func (b *Broker) pullPartition(ctx context.Context, queue, part string, n int, lease time.Duration, r *PullResult) (pullState, error) {
	var st pullState
	for len(r.Messages) < n {
		var err error
		st, err = b.pullOnce(ctx, queue, part, n-len(r.Messages), lease, r)
		if err != nil || !st.more {
			return st, err // what was leased is kept; an error shows on the next call
		}
	}
	return st, nil
}

// pullState is what pull.lua says of a partition besides the messages.
type pullState struct {
	more    bool  // stopped at its bound on skipped turns, or found expired messages
	turns   int64 // the ring's length after the call
	retired bool  // a partition SetPartitions retired
}

// pullOnce runs pull.lua once on part and adds what it leased to r. more
// reports that the script stopped at its bound on skipped turns (stale
// tokens of facets at a lowered limit, or turns parked by rate limits), so
// the ring may hold work still: each such call drops at least n+100 of them,
// so calling again makes progress. It also reports that messages the call
// took had expired, while turns are left: each such call settles at least
// one of them.
func (b *Broker) pullOnce(ctx context.Context, queue, part string, n int, lease time.Duration, r *PullResult) (pullState, error) {
	res, err := b.runQueue(ctx, scriptPull, part, b.pullArgs(n, lease)...).Slice()
	if err != nil {
		return pullState{}, wrapRedis("pull", err)
	}
	return b.absorbPull(ctx, queue, part, res, lease, r)
}

// pullArgs are pull.lua's arguments after the wake channel. The max
// attempts are only those of messages stored without a budget.
func (b *Broker) pullArgs(n int, lease time.Duration) []any {
	return []any{n, ms(lease), b.cfg.MaxAttempts, b.cfg.DeadLetterCap, b.cfg.ReclaimBatch}
}

// absorbPull adds what one pull.lua call on part leased to r.
func (b *Broker) absorbPull(ctx context.Context, queue, part string, res []any, lease time.Duration, r *PullResult) (pullState, error) {
	if len(res) < 5 {
		return pullState{}, fmt.Errorf("%w %q", ErrUnknownQueue, part)
	}
	now, _ := res[0].(int64)
	flag, _ := res[1].(int64)
	turns, _ := res[3].(int64)
	retired, _ := res[4].(int64)
	next, _ := res[2].(int64)
	r.setClock(time.UnixMilli(now), next)
	deadline := r.Now.Add(lease)
	if r.Messages == nil {
		r.Messages = make([]*Message, 0, (len(res)-5)/4)
	}
	for i := 5; i+3 < len(res); i += 4 {
		m, err := b.decodeLeased(queue, part, res[i:i+4], deadline)
		if err != nil {
			// An unreadable envelope can never be handled: dead-letter it
			// rather than hand it out again and again.
			b.cfg.Logger.Warn("fairway: dead-lettering unreadable message", "queue", queue, "id", m.ID, "err", err)
			if kerr := b.Kill(ctx, m, err.Error()); kerr != nil {
				return pullState{}, kerr
			}
			continue
		}
		r.Messages = append(r.Messages, m)
	}
	return pullState{more: flag == 1, turns: turns, retired: retired == 1}, nil
}

// decodeLeased builds a Message from pull.lua's id, token, attempt, envelope.
func (b *Broker) decodeLeased(queue, part string, f []any, deadline time.Time) (*Message, error) {
	id, _ := f[0].(string)
	token, _ := f[1].(string)
	attempt, _ := f[2].(int64)
	raw, _ := f[3].(string)
	m := &Message{ID: id, Queue: queue, Attempt: int(attempt), EnqueuedAt: idTime(id), LeaseDeadline: deadline, lease: token, ns: b.cfg.Namespace}
	if part != queue {
		m.part = part
	}
	e, err := decodeEnvelope(raw)
	if err != nil {
		return m, err
	}
	b.fillFromEnvelope(m, e)
	return m, nil
}

// fillFromEnvelope sets what m's envelope holds: topic, facet, headers,
// body, budget and deadline. A stored budget of 0 (and a version 1
// envelope) gets this broker's Config.MaxAttempts, as reclaim in lib.lua
// does.
func (b *Broker) fillFromEnvelope(m *Message, e envelope) {
	m.Topic, m.Facet, m.Headers, m.Body = e.topic, e.facet, e.headers, e.body
	m.MaxAttempts = cmp.Or(e.maxAttempts, b.cfg.MaxAttempts)
	if e.deadline > 0 {
		m.ExpiresAt = time.UnixMilli(e.deadline)
	}
}
