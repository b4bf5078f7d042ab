package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

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
	done   chan struct{}
	// settled, when set, hears once per message how its ack ended: nil,
	// an ErrLeaseLost, or the error the acker gave up on (see ackResult).
	settled func(m *broker.Message, err error)
}

// maxAckBatch bounds one AckMany.
const maxAckBatch = 512

func newAcker(b *broker.Broker, log *slog.Logger, leases *keeper, quit <-chan struct{}, concurrency int) *acker {
	return &acker{
		b: b, log: log, leases: leases, quit: quit,
		in: make(chan *broker.Message, 2*concurrency), done: make(chan struct{}),
	}
}

func (a *acker) ack(m *broker.Message) { a.in <- m }

// stop flushes the acks sent so far and returns when they are done. Call it
// once no handler can ack any more.
func (a *acker) stop() {
	close(a.in)
	<-a.done
}

// run sends acks until stop. A panic restarts the loop (see supervise); the
// acks of the batch it was sending are lost, so those messages come back
// when their leases end.
func (a *acker) run() {
	defer close(a.done)
	supervise(context.Background(), a.log, "acker", a.loop)
}

func (a *acker) loop(context.Context) error {
	batch := make([]*broker.Message, 0, maxAckBatch)
	for m := range a.in {
		batch = append(batch[:0], m)
	drain:
		for len(batch) < maxAckBatch {
			select {
			case m, ok := <-a.in:
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		a.flush(batch)
	}
	return nil
}

// flush acks a batch, retrying on Redis errors until the current lease of
// every message in it has ended (then the messages come back: at least
// once), or a hard stop. Each message drops out of the retries when its own
// lease ends.
func (a *acker) flush(batch []*broker.Message) {
	defer a.leases.forget(batch...)
	err := errAckAbandoned
	defer func() { a.report(batch, err) }()
	retry := newRetryDelay()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = a.b.AckMany(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if errors.Is(err, broker.ErrLeaseLost) && !hasOtherThan(err, broker.ErrLeaseLost) {
			a.log.Warn("fairway: acked after the lease was lost; the message will run again", "err", err)
			return
		}
		var last time.Time
		batch, last = a.live(batch, err)
		if len(batch) == 0 {
			return
		}
		a.log.Warn("fairway: ack failed; retrying", "n", len(batch), "err", err)
		if !waitRetry(retry.next(), last, a.quit) {
			a.log.Error("fairway: could not ack before the leases ended or the worker stopped; the messages will run again", "n", len(batch), "err", err)
			return
		}
	}
}

// live is the part of batch whose leases have not ended, and the latest of
// their deadlines; it logs the messages that drop out after err.
func (a *acker) live(batch []*broker.Message, err error) ([]*broker.Message, time.Time) {
	var last time.Time
	kept := batch[:0:0]
	for _, m := range batch {
		d := a.leases.deadline(m)
		if time.Until(d) <= 0 {
			a.report([]*broker.Message{m}, err)
			a.log.Error("fairway: could not ack before the lease ended; the message will run again", "queue", m.Queue, "id", m.ID, "err", err)
			continue
		}
		kept = append(kept, m)
		if d.After(last) {
			last = d
		}
	}
	return kept, last
}

// hasOtherThan reports whether a joined error holds an error that is not
// target.
func hasOtherThan(err, target error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return !errors.Is(err, target)
	}
	for _, e := range j.Unwrap() {
		if !errors.Is(e, target) {
			return true
		}
	}
	return false
}
