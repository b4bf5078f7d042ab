package broker_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// leaseCalls are the broker's calls that take a leased message back.
var leaseCalls = []struct {
	name string
	call func(ctx context.Context, b *broker.Broker, m *broker.Message) error
}{
	{"Ack", func(ctx context.Context, b *broker.Broker, m *broker.Message) error { return b.Ack(ctx, m) }},
	{"AckMany", func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
		return b.AckMany(ctx, []*broker.Message{m})
	}},
	{"Release", func(ctx context.Context, b *broker.Broker, m *broker.Message) error { return b.Release(ctx, m) }},
	{"Nack", func(ctx context.Context, b *broker.Broker, m *broker.Message) error { return b.Nack(ctx, m, 0) }},
	{"Nack to dead", func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
		m.MaxAttempts = 1 // its last attempt
		return b.Nack(ctx, m, 0)
	}},
	{"Kill", func(ctx context.Context, b *broker.Broker, m *broker.Message) error { return b.Kill(ctx, m, "x") }},
	{"Extend", func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
		return b.Extend(ctx, m, time.Hour)
	}},
}

// TestForeignMessageRefused gives a message pulled through one namespace's
// broker to the broker of another namespace on the same server, with the
// same queue, where a message of the same ID and lease token is leased (as
// happens when both deliver in the same millisecond): every call that takes
// a leased message refuses it with ErrForeignMessage and changes nothing in
// either namespace, and a broker of the message's own namespace still
// takes it.
func TestForeignMessageRefused(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		cfg := broker.Config{LeaseDuration: time.Minute}
		a, b := newQueue(t, rdb, cfg), newQueue(t, rdb, cfg)
		at := time.Now().Add(time.Hour)
		broker.PinIDs(a, at)
		broker.PinIDs(b, at)
		deliver(t, a, "t", "f", "of a")
		deliver(t, b, "t", "f", "of b")
		ma, mb := pull(t, a, "q"), pull(t, b, "q")
		if ma.ID != mb.ID {
			t.Fatalf("IDs %s and %s differ: the test needs them equal", ma.ID, mb.ID)
		}
		before := map[*broker.Broker]map[string]string{a: snapshot(t, a), b: snapshot(t, b)}
		unchanged := func(what string) {
			t.Helper()
			for x, snap := range before {
				if got := snapshot(t, x); !maps.Equal(got, snap) {
					t.Fatalf("%s changed namespace %s:\n got %v\nwant %v", what, x.Namespace(), got, snap)
				}
			}
		}
		for _, c := range leaseCalls {
			for _, pair := range [][2]*broker.Broker{{b, a}, {a, b}} {
				through, m := pair[0], ma
				if through == a {
					m = mb
				}
				err := c.call(ctx, through, m)
				if !errors.Is(err, broker.ErrForeignMessage) {
					t.Errorf("%s through namespace %s of a message of %s: %v, want ErrForeignMessage",
						c.name, through.Namespace(), pair[1].Namespace(), err)
				}
				unchanged(c.name)
			}
		}
		// A batch with one foreign message is refused whole.
		if err := b.AckMany(ctx, []*broker.Message{mb, ma}); !errors.Is(err, broker.ErrForeignMessage) {
			t.Errorf("AckMany of its own and a foreign message: %v, want ErrForeignMessage", err)
		}
		if err := b.Release(ctx, mb, ma); !errors.Is(err, broker.ErrForeignMessage) {
			t.Errorf("Release of its own and a foreign message: %v, want ErrForeignMessage", err)
		}
		unchanged("a batch with a foreign message")
		// Another broker of the message's own namespace is no stranger.
		a2 := newBroker(t, rdb, broker.Config{Namespace: a.Namespace()})
		ack(t, a2, ma)
		ack(t, b, mb)
		for _, x := range []*broker.Broker{a, b} {
			if s := stats(t, x, "q"); s.Ready+s.InFlight+s.Delayed+s.Dead != 0 {
				t.Errorf("namespace %s after both acks: %+v, want nothing left", x.Namespace(), s)
			}
		}
	})
}

// TestForeignMessageRefusedPartitioned is TestForeignMessageRefused for a
// message of a partitioned queue, on the Cluster too: the partition it
// names is refused just as well, and both queues keep their messages
// leased.
func TestForeignMessageRefusedPartitioned(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		cfg := broker.Config{LeaseDuration: time.Minute}
		a, b := newBroker(t, rdb, cfg), newBroker(t, rdb, cfg)
		for _, x := range []*broker.Broker{a, b} {
			if err := x.RegisterQueue(ctx, "q", ".", broker.WithPartitions(2)); err != nil {
				t.Fatal(err)
			}
			deliver(t, x, "t", "f", "body")
		}
		ma, mb := pull(t, a, "q"), pull(t, b, "q")
		for _, c := range leaseCalls {
			if err := c.call(ctx, b, ma); !errors.Is(err, broker.ErrForeignMessage) {
				t.Errorf("%s through another namespace: %v, want ErrForeignMessage", c.name, err)
			}
		}
		for _, x := range []*broker.Broker{a, b} {
			if s := stats(t, x, "q"); s.InFlight != 1 || s.Ready+s.Delayed+s.Dead != 0 {
				t.Errorf("namespace %s: %+v, want its one message still leased", x.Namespace(), s)
			}
		}
		ack(t, a, ma)
		ack(t, b, mb)
	})
}
