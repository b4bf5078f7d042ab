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
	b    *broker.Broker
	log  *slog.Logger
	in   chan *broker.Message
	done chan struct{}
}

// maxAckBatch bounds one AckMany.
const maxAckBatch = 512

func newAcker(b *broker.Broker, log *slog.Logger, concurrency int) *acker {
	return &acker{b: b, log: log, in: make(chan *broker.Message, 2*concurrency), done: make(chan struct{})}
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

// flush acks a batch, retrying on Redis errors until the leases would have
// expired anyway (then the messages come back: at least once).
func (a *acker) flush(batch []*broker.Message) {
	deadline := batch[0].LeaseDeadline
	retry := newRetryDelay()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := a.b.AckMany(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if errors.Is(err, broker.ErrLeaseLost) && !hasOtherThan(err, broker.ErrLeaseLost) {
			a.log.Warn("fairway: acked after the lease was lost; the message will run again", "err", err)
			return
		}
		if time.Now().After(deadline) {
			a.log.Error("fairway: could not ack before the leases ended; the messages will run again", "n", len(batch), "err", err)
			return
		}
		a.log.Warn("fairway: ack failed; retrying", "n", len(batch), "err", err)
		time.Sleep(retry.next())
	}
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
