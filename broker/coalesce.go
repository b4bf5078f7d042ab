package broker

import (
	"context"
	"sync"
)

// maxCoalesced is the most messages that concurrent deliveries join into one
// batch: it bounds the time one enqueue script holds Redis.
const maxCoalesced = 1000

// maxInflightBatches is how many batches may be on their way to Redis at
// once: while Redis runs one, the client sends the next.
const maxInflightBatches = 2

// coalescer joins the deliveries of concurrent callers into shared batches,
// as a database joins concurrent commits into one write. A delivery that
// finds fewer than maxInflightBatches batches on their way to Redis is sent
// at once by its caller, as it would be alone. Deliveries that arrive while
// that many are on their way wait, and go together in the next batch, sent
// by a goroutine of the coalescer when one arrives; so many goroutines each
// delivering one message cost Redis, and the client, about what batches
// cost, not one round trip and one script call each.
//
// Each caller has its own deliveries validated, encoded and given IDs
// first, so a bad one fails alone; a batch that Redis fails fails every
// caller in it, each of which gets the error. A caller whose context ends
// while it waits gets the context's error: its messages may still be
// delivered, as with any call whose context ends mid-flight.
type coalescer struct {
	send func(ctx context.Context, ps []prepared) (sendResult, error)

	mu       sync.Mutex
	inflight int // batches on their way, at most maxInflightBatches
	waiting  []*coalesced
}

// coalesced is one caller's deliveries waiting for a batch.
type coalesced struct {
	ctx  context.Context
	ps   []prepared
	done chan sent // buffered: the batch's outcome
}

// sent is the outcome of a batch for one caller: what the send wrote of
// the caller's messages, or the batch's error.
type sent struct {
	res sendResult
	err error
}

// deliver sends ps, alone when there is room on the way, or else with the
// other deliveries that wait for it. It returns what the send wrote of ps.
func (c *coalescer) deliver(ctx context.Context, ps []prepared) (sendResult, error) {
	c.mu.Lock()
	if c.inflight < maxInflightBatches {
		c.inflight++
		c.mu.Unlock()
		res, err := c.send(ctx, ps)
		c.nextBatch()
		return res, err
	}
	me := &coalesced{ctx: ctx, ps: ps, done: make(chan sent, 1)}
	c.waiting = append(c.waiting, me)
	c.mu.Unlock()
	select {
	case r := <-me.done:
		return r.res, r.err
	case <-ctx.Done():
		c.mu.Lock()
		for i, w := range c.waiting {
			if w == me { // not taken into a batch yet: it never will be
				c.waiting = append(c.waiting[:i], c.waiting[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		return sendResult{}, ctx.Err()
	}
}

// nextBatch is called when a batch has arrived: it hands what waits to a
// goroutine that sends it, batch after batch, or frees the batch's place.
func (c *coalescer) nextBatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiting) == 0 {
		c.inflight--
		return
	}
	go c.sendWaiting()
}

// sendWaiting sends the waiting deliveries in batches of up to
// maxCoalesced messages until none waits.
func (c *coalescer) sendWaiting() {
	for {
		c.mu.Lock()
		if len(c.waiting) == 0 {
			c.inflight--
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
		res, err := c.send(context.WithoutCancel(batch[0].ctx), ps)
		off := 0
		for _, w := range batch {
			r := sent{err: err}
			if err == nil {
				r.res = res.slice(off, off+len(w.ps))
			}
			off += len(w.ps)
			w.done <- r
		}
	}
}
