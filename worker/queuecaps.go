package worker

import "sync"

// queueCaps keeps Config.QueueConcurrency: how many handlers of this
// process run each capped queue's messages, and how many more may start.
// The fetcher asks it how many to pull from a queue and counts what it
// got; a finishing handler gives its place back, and when that frees a
// queue that was at its cap, freed tells the idle fetcher to pull again at
// once (the queue may have work that no delivery will announce).
type queueCaps struct {
	cap   map[string]int // read only, so read without mu
	freed chan struct{}  // one pending signal at most

	mu      sync.Mutex
	running map[string]int
}

func newQueueCaps(caps map[string]int) *queueCaps {
	return &queueCaps{cap: caps, running: make(map[string]int, len(caps)), freed: make(chan struct{}, 1)}
}

// room is how many of want messages of queue q may start now.
func (c *queueCaps) room(q string, want int) int {
	limit, ok := c.cap[q]
	if !ok {
		return want
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(0, min(want, limit-c.running[q]))
}

// started counts n handlers of queue q that start.
func (c *queueCaps) started(q string, n int) {
	if _, ok := c.cap[q]; !ok || n == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[q] += n
}

// done counts a handler of queue q that finished.
func (c *queueCaps) done(q string) {
	limit, ok := c.cap[q]
	if !ok {
		return
	}
	c.mu.Lock()
	wasFull := c.running[q] >= limit
	c.running[q]--
	c.mu.Unlock()
	if wasFull {
		select {
		case c.freed <- struct{}{}:
		default:
		}
	}
}
