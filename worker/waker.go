package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// waker lets an idle fetcher sleep until its queues get work: it watches
// their wake channels, and falls back to the poll interval, which also picks
// up delayed messages that fell due. If the watch cannot be set up (Redis is
// down), it retries on later waits.
type waker struct {
	b      *broker.Broker
	queues []string
	log    *slog.Logger
	watch  *broker.Watch
}

func newWaker(b *broker.Broker, queues []string, log *slog.Logger) *waker {
	return &waker{b: b, queues: queues, log: log}
}

// wait returns on a wake signal, after poll, when the first of the retries
// this process scheduled falls due, when freed says a queue at its
// Config.QueueConcurrency cap has room again, or when ctx ends.
func (w *waker) wait(ctx context.Context, poll time.Duration, retries *retriesDue, freed <-chan struct{}) {
	w.ensureWatch(ctx)
	var signal <-chan struct{}
	if w.watch != nil {
		signal = w.watch.C()
	}
	for {
		d := poll
		if due, ok := retries.next(time.Now()); ok {
			if due <= 0 {
				return
			}
			d = min(d, due)
		}
		t := time.NewTimer(d)
		select {
		case <-signal:
		case <-freed: // a queue at its QueueConcurrency cap has room again
		case <-t.C:
		case <-ctx.Done():
		case <-retries.changed:
			// A sooner retry was scheduled: wait for it instead. The
			// poll interval restarts, which only delays a poll that
			// this earlier wake-up brings forward anyway.
			t.Stop()
			continue
		}
		t.Stop()
		return
	}
}

// idleFor is how long an idle fetcher waits: the poll interval, or less
// when a facet held back by its rate limit frees up sooner (next > 0).
// Rate limits publish no wake-up when they free a facet, hence this.
func idleFor(poll, next time.Duration) time.Duration {
	if next > 0 {
		return min(poll, next)
	}
	return poll
}

// sooner folds one queue's pull result into next, the shortest wait so far
// for a facet held back by its rate limit (0: none).
func sooner(next time.Duration, res broker.PullResult) time.Duration {
	if res.NextReadyAt.IsZero() {
		return next
	}
	// Both times are Redis's, so this does not depend on the local clock.
	d := max(res.NextReadyAt.Sub(res.Now), time.Millisecond)
	if next == 0 {
		return d
	}
	return min(next, d)
}

func (w *waker) ensureWatch(ctx context.Context) {
	if w.watch != nil {
		return
	}
	watch, err := w.b.Watch(ctx, w.queues...)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("fairway: cannot watch queues; polling until Redis answers", "err", err)
		}
		return
	}
	w.watch = watch
}

func (w *waker) close() {
	if w.watch != nil {
		_ = w.watch.Close()
	}
}
