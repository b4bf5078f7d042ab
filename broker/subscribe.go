package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Event is a message as published on pub/sub.
type Event struct {
	Topic string
	Body  []byte
}

// Subscription receives the events of the topics matching a glob pattern.
// Pub/sub is at most once: events published while nobody listens, or while
// the connection is down, are gone. Queues are the durable path.
type Subscription struct {
	ps     *redis.PubSub
	ch     chan *Event
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	prefix string
}

// subscriptionBuffer is how many events a Subscription holds for a slow
// reader before Redis's client starts to hold them back.
const subscriptionBuffer = 256

// Subscribe starts receiving every delivered message whose topic matches
// pattern, a Redis glob ("orders.*", "*"). It returns once Redis has
// confirmed the subscription, so deliveries after it are received. The
// channel closes when ctx ends or Close is called.
func (b *Broker) Subscribe(ctx context.Context, pattern string) (*Subscription, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if err := validName(ErrInvalidPattern, "subscription pattern", pattern); err != nil {
		return nil, err
	}
	ps := b.rdb.PSubscribe(ctx, b.keys.topicChannel(pattern))
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, wrapRedis("subscribe", err)
	}
	s := &Subscription{
		ps: ps, ch: make(chan *Event, subscriptionBuffer),
		stop: make(chan struct{}), done: make(chan struct{}),
		prefix: b.keys.topicChannel(""),
	}
	go s.forward(ctx, ps.Channel(redis.WithChannelSize(subscriptionBuffer)))
	return s, nil
}

// Channel delivers the events. It is closed when the subscription ends.
func (s *Subscription) Channel() <-chan *Event { return s.ch }

// Close ends the subscription and waits until its channel is closed.
func (s *Subscription) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Subscription) forward(ctx context.Context, in <-chan *redis.Message) {
	defer close(s.done)
	defer close(s.ch)
	defer func() { _ = s.ps.Close() }()
	for {
		select {
		case m, ok := <-in:
			if !ok {
				return
			}
			ev := &Event{Topic: strings.TrimPrefix(m.Channel, s.prefix), Body: []byte(m.Payload)}
			select {
			case s.ch <- ev:
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			}
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		}
	}
}
