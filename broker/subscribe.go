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
	if err := ValidateSubscribePattern(pattern); err != nil {
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

// ValidateSubscribePattern reports whether pattern is a Redis glob that
// Subscribe takes: non-empty UTF-8 of at most MaxNameBytes, with every "["
// closed by a "]". Redis takes an unclosed "[" without a word and then
// matches almost nothing, so a subscription on it would wait forever;
// callers such as the fairway CLI check with it before they connect.
func ValidateSubscribePattern(pattern string) error {
	if err := validName(ErrInvalidPattern, "subscription pattern", pattern); err != nil {
		return err
	}
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++ // the next byte is literal; a trailing backslash is one to Redis
		case '[':
			end := classEnd(pattern, i+1)
			if end < 0 {
				return fmt.Errorf("%w: subscription pattern %q has a \"[\" at byte %d with no \"]\" to close it (escape it as \\[ to match a \"[\")",
					ErrInvalidPattern, truncate(pattern), i)
			}
			i = end
		}
	}
	return nil
}

// classEnd returns the index of the "]" that closes the character class
// starting at i (just after its "["), as Redis reads it: a leading "^"
// negates, a backslash escapes the next byte, "a-z" is a range whose end
// may be any byte (even "]"), and the first other "]" closes; or -1.
func classEnd(pattern string, i int) int {
	if i < len(pattern) && pattern[i] == '^' {
		i++
	}
	for ; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case ']':
			return i
		default:
			if len(pattern)-i >= 3 && pattern[i+1] == '-' {
				i += 2
			}
		}
	}
	return -1
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
