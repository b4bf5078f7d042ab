package broker

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Watch signals when queues may have work: the queue scripts publish on a
// queue's wake channel whenever a facet gets a turn (a delivery to an idle
// facet, an ack that frees a facet at its in-flight limit, a retry or an
// expired lease moved back). Workers wait on it instead of polling.
//
// Signals are hints, at most once, and coalesced: after one, pull until
// nothing is ready. Delayed messages falling due send no signal until a Pull
// moves them, so a waiter should also pull now and then. When the
// subscription comes back after its connection broke (a restart, a
// failover), the watch signals too: the signals sent meanwhile are lost.
type Watch struct {
	ps   *redis.PubSub
	c    chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Watch subscribes to the wake channels of queues. It returns once Redis has
// confirmed the subscription.
func (b *Broker) Watch(ctx context.Context, queues ...string) (*Watch, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if len(queues) == 0 {
		return nil, fmt.Errorf("%w: no queue to watch", ErrInvalidArgument)
	}
	channels := make([]string, len(queues))
	for i, q := range queues {
		if err := ValidateQueueName(q); err != nil {
			return nil, err
		}
		channels[i] = b.keys.wakeChannel(q)
	}
	ps := b.rdb.Subscribe(ctx, channels...)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, wrapRedis("watch", err)
	}
	w := &Watch{ps: ps, c: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	// With subscriptions: go-redis sends one after it subscribed again.
	go w.forward(ps.ChannelWithSubscriptions())
	return w, nil
}

// C receives a value after one or more signals. It is never closed.
func (w *Watch) C() <-chan struct{} { return w.c }

// Close ends the watch.
func (w *Watch) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

func (w *Watch) forward(in <-chan any) {
	defer close(w.done)
	defer func() { _ = w.ps.Close() }()
	for {
		select {
		case _, ok := <-in:
			if !ok {
				return
			}
			select {
			case w.c <- struct{}{}:
			default: // a signal is already pending
			}
		case <-w.stop:
			return
		}
	}
}
