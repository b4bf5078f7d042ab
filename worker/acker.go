package worker

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fairwayhq/fairway/broker"
)

// acker sends acks in batches: it takes every ack waiting when it wakes, so
// under load one round trip acks many messages, and when idle an ack goes
// out at once.
type acker struct {
	b      *broker.Broker
	log    *slog.Logger
	leases *keeper         // how long each ack may be retried
	quit   <-chan struct{} // closed on a hard stop: retry no more
	in     chan *broker.Message
	// settled, when set, hears once per message how its ack ended: nil,
	// an ErrLeaseLost, or the error the acker gave up on (see ackResult).
	settled func(m *broker.Message, err error)
}

// maxAckBatch bounds one AckMany.
const maxAckBatch = 512

func newAcker(b *broker.Broker, log *slog.Logger, leases *keeper, quit <-chan struct{}, concurrency int) *acker {
	return &acker{
		b: b, log: log, leases: leases, quit: quit,
		in: make(chan *broker.Message, 2*concurrency),
	}
}

func (a *acker) ack(m *broker.Message) { a.in <- m }

// run sends acks until ctx ends, then flushes the acks sent so far and
// returns: a service (see supervisor), stopped once no handler can ack any
// more. A panic restarts it; the acks of the batch it was sending are lost,
// so those messages come back when their leases end.
func (a *acker) run(ctx context.Context) error {
	batch := make([]*broker.Message, 0, maxAckBatch)
	for {
		select {
		case m := <-a.in:
			a.flush(a.fill(append(batch[:0], m)))
		case <-ctx.Done():
			for {
				batch = a.fill(batch[:0])
				if len(batch) == 0 {
					return nil
				}
				a.flush(batch)
			}
		}
	}
}

// fill adds to batch the acks waiting, up to maxAckBatch.
func (a *acker) fill(batch []*broker.Message) []*broker.Message {
	for len(batch) < maxAckBatch {
		select {
		case m := <-a.in:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// flush acks a batch, retrying on Redis errors until the current lease of
// every message in it has ended, or a hard stop (see keeper.settle).
func (a *acker) flush(batch []*broker.Message) {
	err := errAckAbandoned // what a panic mid-flush leaves the waiters with
	var dropped map[*broker.Message]bool
	defer func() {
		for _, m := range batch {
			if !dropped[m] {
				a.report(m, err)
			}
		}
	}()
	var res settled
	res, err = a.leases.settle("ack", batch, a.quit, func(err error) {
		a.log.Warn("fairway: ack failed; retrying while the leases last", "n", len(batch), "err", err)
	}, func(m *broker.Message, err error) {
		if dropped == nil {
			dropped = make(map[*broker.Message]bool)
		}
		dropped[m] = true
		a.report(m, err)
	}, a.b.AckMany)
	switch res {
	case settledLost:
		a.log.Warn("fairway: acked after the lease was lost; the message will run again", "err", err)
	case settledGaveUp:
		a.log.Error("fairway: could not ack before the leases ended or the worker stopped; the messages will run again", "n", len(batch), "err", err)
	}
}

// errAckAbandoned is the result of an ack whose batch the acker dropped
// (it panicked while sending it): the message comes back when its lease
// ends.
var errAckAbandoned = errors.New("worker: ack abandoned")

// report tells settled how the ack of m ended, err being AckMany's last
// answer for its batch.
func (a *acker) report(m *broker.Message, err error) {
	if a.settled != nil {
		a.settled(m, ackResult(m, err))
	}
}

// ackResult is how the ack of m ended when AckMany answered err for its
// batch: nil when acked, its own ErrLeaseLost, or err when the batch failed
// as a whole.
func ackResult(m *broker.Message, err error) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, broker.ErrLeaseLost) || hasOtherThan(err, broker.ErrLeaseLost) {
		return err
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if lost, ok := errors.AsType[*broker.LeaseLostError](e); ok && lost.Message == m {
			return e
		}
	}
	return nil
}
