package main

import (
	"context"
	"sync"
	"time"
)

// ceilingWorker runs a handler on the ceiling's messages with a pool like
// Fairway's worker: concurrency handler goroutines, a fetcher that pulls
// as many messages as there are free handlers in one call, and an acker
// that settles finished messages in batches. It has no retries: a handler
// cannot fail.
type ceilingWorker struct {
	c       *ceilingQueue
	cancel  context.CancelFunc
	fetcher sync.WaitGroup
	workers sync.WaitGroup
	acker   sync.WaitGroup
	jobs    chan ceilingPulled
	acks    chan string
	mu      sync.Mutex
	err     error // the first error of a pull or an ack
}

// ceilingPollEvery is how long the fetcher waits when a pull found nothing.
const ceilingPollEvery = time.Millisecond

// ceilingAckBatch is the most messages one ack settles.
const ceilingAckBatch = 100

// startCeilingWorker starts a worker of concurrency handlers running h.
func startCeilingWorker(c *ceilingQueue, concurrency int, h func(ceilingPulled)) *ceilingWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &ceilingWorker{
		c: c, cancel: cancel,
		jobs: make(chan ceilingPulled, concurrency),
		acks: make(chan string, 2*concurrency),
	}
	slots := make(chan struct{}, concurrency) // one per busy handler
	w.fetcher.Go(func() { w.fetch(ctx, slots, concurrency) })
	for range concurrency {
		w.workers.Go(func() {
			for m := range w.jobs {
				h(m)
				w.acks <- m.msg
				<-slots
			}
		})
	}
	w.acker.Go(w.ackLoop)
	return w
}

// fetch waits for a free handler, takes every other free one, and pulls
// that many messages, until ctx ends.
func (w *ceilingWorker) fetch(ctx context.Context, slots chan struct{}, concurrency int) {
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < concurrency {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		got, err := w.c.pull(ctx, n)
		if err != nil && ctx.Err() == nil {
			w.fail(err)
		}
		for _, m := range got {
			w.jobs <- m
		}
		for range n - len(got) {
			<-slots
		}
		if len(got) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(ceilingPollEvery):
			}
		}
	}
}

// ackLoop settles finished messages: whatever has finished by the time the
// last ack returned goes in the next one.
func (w *ceilingWorker) ackLoop() {
	batch := make([]string, 0, ceilingAckBatch)
	for m := range w.acks {
		batch = append(batch[:0], m)
	drain:
		for len(batch) < ceilingAckBatch {
			select {
			case m, ok := <-w.acks:
				if !ok {
					break drain
				}
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if err := w.c.ack(context.Background(), batch); err != nil {
			w.fail(err)
		}
	}
}

func (w *ceilingWorker) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// stop stops fetching, lets the handlers finish, acks their messages and
// returns the first error of the run.
func (w *ceilingWorker) stop() error {
	w.cancel()
	w.fetcher.Wait()
	close(w.jobs)
	w.workers.Wait()
	close(w.acks)
	w.acker.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
