package broker

import (
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
	return b.PullLease(ctx, queue, n, b.cfg.LeaseDuration)
}

// PullLease is PullN with a lease duration other than Config.LeaseDuration.
func (b *Broker) PullLease(ctx context.Context, queue string, n int, lease time.Duration) ([]*Message, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxPullBatch {
		return nil, fmt.Errorf("%w: pull count %d is outside [1, %d]", ErrInvalidArgument, n, MaxPullBatch)
	}
	if lease < time.Millisecond {
		return nil, fmt.Errorf("%w: lease %v is below 1ms", ErrInvalidArgument, lease)
	}
	var out []*Message
	for len(out) < n {
		got, more, err := b.pullOnce(ctx, queue, n-len(out), lease)
		out = append(out, got...)
		if err != nil && len(out) == 0 {
			return nil, err
		}
		if err != nil || !more {
			break // what was leased is returned; the error shows on the next call
		}
	}
	return out, nil
}

// pullOnce runs pull.lua once. more reports that the script stopped at its
// bound on skipped turns (stale tokens of facets at a lowered limit), so the
// ring may hold work still: each such call drops at least n+100 of them, so
// calling again makes progress.
func (b *Broker) pullOnce(ctx context.Context, queue string, n int, lease time.Duration) (out []*Message, more bool, err error) {
	res, err := b.runQueue(ctx, scriptPull, queue, n, ms(lease), b.cfg.MaxAttempts, b.cfg.DeadLetterCap, b.cfg.ReclaimBatch).Slice()
	if err != nil {
		return nil, false, wrapRedis("pull", err)
	}
	if len(res) < 2 {
		return nil, false, fmt.Errorf("%w %q", ErrUnknownQueue, queue)
	}
	now, _ := res[0].(int64)
	flag, _ := res[1].(int64)
	deadline := time.UnixMilli(now).Add(lease)
	out = make([]*Message, 0, (len(res)-2)/4)
	for i := 2; i+3 < len(res); i += 4 {
		m, err := b.decodeLeased(queue, res[i:i+4], deadline)
		if err != nil {
			// An unreadable envelope can never be handled: dead-letter it
			// rather than hand it out again and again.
			b.cfg.Logger.Warn("fairway: dead-lettering unreadable message", "queue", queue, "id", m.ID, "err", err)
			if kerr := b.Kill(ctx, m, err.Error()); kerr != nil {
				return out, false, kerr
			}
			continue
		}
		out = append(out, m)
	}
	return out, flag == 1, nil
}

// decodeLeased builds a Message from pull.lua's id, token, attempt, envelope.
func (b *Broker) decodeLeased(queue string, f []any, deadline time.Time) (*Message, error) {
	id, _ := f[0].(string)
	token, _ := f[1].(string)
	attempt, _ := f[2].(int64)
	raw, _ := f[3].(string)
	m := &Message{ID: id, Queue: queue, Attempt: int(attempt), EnqueuedAt: idTime(id), LeaseDeadline: deadline, lease: token}
	e, err := decodeEnvelope(raw)
	if err != nil {
		return m, err
	}
	m.Topic, m.Facet, m.Headers, m.Body = e.topic, e.facet, e.headers, e.body
	return m, nil
}
