package broker

import (
	"context"
	"sync"
)

// maxCoalesced is the most messages that concurrent deliveries join into one
// batch: it bounds the time one enqueue script holds Redis.
const maxCoalesced = 1000

// coalescer joins the deliveries of concurrent callers into shared batches,
// as a database joins concurrent commits into one write. A delivery that
// finds no batch on its way to Redis is sent at once by its caller, as it
// would be alone. Deliveries that arrive while a batch is on its way wait,
// and go together in the next one, sent by a goroutine of the coalescer; so
// many goroutines each delivering one message cost Redis, and the client,
// about what batches cost, not one round trip and one script call each.
//
// Each caller has its own deliveries validated, encoded and given IDs
// first, so a bad one fails alone; a batch that Redis fails fails every
// caller in it, each of which gets the error. A caller whose context ends
// while it waits gets the context's error: its messages may still be
// delivered, as with any call whose context ends mid-flight.
type coalescer struct {
	mu      sync.Mutex
	busy    bool // a batch is on its way
	waiting []*coalesced
}

// coalesced is one caller's deliveries waiting for a batch.
type coalesced struct {
	ctx  context.Context
	ps   []prepared
	done chan error // buffered: the batch's outcome
}

// deliverCoalesced delivers ps, alone when nothing else is on its way, or
// else with the deliveries that arrive meanwhile.
func (b *Broker) deliverCoalesced(ctx context.Context, ps []prepared) error {
	c := &b.coalesce
	c.mu.Lock()
	if !c.busy {
		c.busy = true
		c.mu.Unlock()
		err := b.sendPrepared(ctx, ps)
		b.nextBatch()
		return err
	}
	me := &coalesced{ctx: ctx, ps: ps, done: make(chan error, 1)}
	c.waiting = append(c.waiting, me)
	c.mu.Unlock()
	select {
	case err := <-me.done:
		return err
	case <-ctx.Done():
		c.mu.Lock()
		for i, w := range c.waiting {
			if w == me { // not taken into a batch yet: it never will be
				c.waiting = append(c.waiting[:i], c.waiting[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}

// nextBatch is called when a batch has arrived: it hands what waits to a
// goroutine that sends it, batch after batch, or marks the coalescer idle.
func (b *Broker) nextBatch() {
	c := &b.coalesce
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiting) == 0 {
		c.busy = false
		return
	}
	go b.sendWaiting()
}

// sendWaiting sends the waiting deliveries in batches of up to
// maxCoalesced messages until none waits.
func (b *Broker) sendWaiting() {
	c := &b.coalesce
	for {
		c.mu.Lock()
		if len(c.waiting) == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		var batch []*coalesced
		var ps []prepared
		n := 0
		for n < len(c.waiting) && (n == 0 || len(ps)+len(c.waiting[n].ps) <= maxCoalesced) {
			batch = append(batch, c.waiting[n])
			ps = append(ps, c.waiting[n].ps...)
			n++
		}
		c.waiting = c.waiting[n:]
		c.mu.Unlock()
		// The batch outlives any one caller's cancellation: the others
		// still want it sent. go-redis's timeouts bound it.
		err := b.sendPrepared(context.WithoutCancel(batch[0].ctx), ps)
		for _, w := range batch {
			w.done <- err
		}
	}
}
