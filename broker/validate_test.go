package broker_test

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// Facet names that look like key parts or markers all work end to end.
func TestFacetNames(t *testing.T) {
	t.Parallel()
	names := []string{
		"length", "ring", "cfg", "msgs", "f:x", "a:b", "{x}", "}{", "*", "?", "[a]", "a|b", "default",
		"ünïcödé", "tab\tnew\nline", " ", strings.Repeat("x", broker.MaxNameBytes), strings.Repeat("é", broker.MaxNameBytes/2),
	}
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		for _, f := range names {
			setPriority(t, b, f, 2)
			deliver(t, b, "t", f, "bytes")
			if err := b.Deliver(ctx, map[string]any{"facet": f, "topic": "t"}); err != nil {
				t.Fatalf("Deliver to facet %q: %v", f, err)
			}
		}
		wantStats(t, b, "q", broker.QueueStats{Ready: int64(2 * len(names)), Facets: int64(len(names)), Routed: true})
		for _, f := range names {
			if fs, err := b.Facet(ctx, "q", f); err != nil || fs != (broker.FacetStats{Facet: f, Ready: 2, Priority: 2}) {
				t.Fatalf("Facet(%q) = %+v, %v", f, fs, err)
			}
		}
		got := map[string]int{}
		for range 2 * len(names) {
			m := pull(t, b, "q")
			got[m.Facet]++
			ack(t, b, m)
		}
		pullNone(t, b, "q")
		for _, f := range names {
			if got[f] != 2 {
				t.Errorf("facet %q: pulled %d messages, want 2", f, got[f])
			}
		}
		wantStats(t, b, "q", broker.QueueStats{Routed: true})
	})
}

func TestQueueNames(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		for _, q := range []string{"a", "A.b-c_9", strings.Repeat("q", broker.MaxQueueNameBytes)} {
			register(t, b, q, "^t$")
			deliver(t, b, "t", "f", q)
			if m := pull(t, b, q); string(m.Body) != q {
				t.Fatalf("queue %q gave %q", q, m.Body)
			}
		}
	})
}

// badInput is a call with invalid input and the sentinel its error wraps.
type badInput struct {
	name string
	call func(ctx context.Context, b *broker.Broker, m *broker.Message) error
	want error
}

func badInputs() []badInput {
	long := strings.Repeat("x", broker.MaxNameBytes+1)
	deliverBytes := func(topic, facet string, body []byte, opts ...broker.DeliverOption) func(context.Context, *broker.Broker, *broker.Message) error {
		return func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.DeliverBytes(ctx, topic, facet, body, opts...)
		}
	}
	deliverMsg := func(msg map[string]any, opts ...broker.DeliverOption) func(context.Context, *broker.Broker, *broker.Message) error {
		return func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.Deliver(ctx, msg, opts...)
		}
	}
	forged := &broker.Message{ID: "AAAAAAAAAAAAAAAAAAAA", Queue: "q", Facet: "f"}
	var nilCtx context.Context
	tests := []badInput{
		{"facet of 1025 bytes", deliverBytes("t", long, nil), broker.ErrInvalidFacet},
		{"empty facet", deliverBytes("t", "", nil), broker.ErrInvalidFacet},
		{"facet not UTF-8", deliverBytes("t", "a\xffb", nil), broker.ErrInvalidFacet},
		{"Deliver facet of 1025 bytes", deliverMsg(map[string]any{"facet": long}), broker.ErrInvalidFacet},
		{"empty topic", deliverBytes("", "f", nil), broker.ErrInvalidTopic},
		{"topic of 1025 bytes", deliverBytes(long, "f", nil), broker.ErrInvalidTopic},
		{"topic not UTF-8", deliverBytes("\xc3(", "f", nil), broker.ErrInvalidTopic},
		{"Deliver topic not UTF-8", deliverMsg(map[string]any{"topic": "\xff"}), broker.ErrInvalidTopic},
		{"nil map", deliverMsg(nil), broker.ErrInvalidMessage},
		{"channel in message", deliverMsg(map[string]any{"c": make(chan int)}), broker.ErrInvalidMessage},
		{"infinity in message", deliverMsg(map[string]any{"x": math.Inf(1)}), broker.ErrInvalidMessage},
		{"NaN in message", deliverMsg(map[string]any{"x": math.NaN()}), broker.ErrInvalidMessage},
		{"body too large", deliverBytes("t", "f", make([]byte, 2000)), broker.ErrMessageTooLarge},
		{"message too large", deliverMsg(map[string]any{"x": strings.Repeat("y", 2000)}), broker.ErrMessageTooLarge},
		{"headers too large", deliverBytes("t", "f", nil, broker.WithHeaders(map[string]string{"h": strings.Repeat("y", 2000)})), broker.ErrMessageTooLarge},
		{"negative delay", deliverBytes("t", "f", nil, broker.WithDelay(-time.Second)), broker.ErrInvalidArgument},
		{"Deliver negative delay", deliverMsg(map[string]any{}, broker.WithDelay(-time.Millisecond)), broker.ErrInvalidArgument},
		{"idempotency key of 1025 bytes", deliverBytes("t", "f", nil, broker.WithIdempotencyKey(long, 0)), broker.ErrInvalidArgument},
		{"negative idempotency window", deliverBytes("t", "f", nil, broker.WithIdempotencyKey("k", -time.Second)), broker.ErrInvalidArgument},
		{"one bad delivery in a batch", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: "ok"}, {Topic: "t", Facet: ""}, {Topic: "t", Facet: "ok"}})
		}, broker.ErrInvalidFacet},
		{"nil context", func(_ context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.DeliverBytes(nilCtx, "t", "f", nil)
		}, broker.ErrInvalidArgument},
		{"invalid regexp", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.RegisterQueue(ctx, "q2", "a(b")
		}, broker.ErrInvalidPattern},
		{"empty pattern", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.RegisterQueue(ctx, "q2", "")
		}, broker.ErrInvalidPattern},
		{"change to an invalid regexp", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.RegisterQueue(ctx, "q", "[")
		}, broker.ErrInvalidPattern},
		{"empty subscription pattern", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.Subscribe(ctx, "")
			return err
		}, broker.ErrInvalidPattern},
		{"PullN(0)", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.PullN(ctx, "q", 0)
			return err
		}, broker.ErrInvalidArgument},
		{"PullN(-1)", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.PullN(ctx, "q", -1)
			return err
		}, broker.ErrInvalidArgument},
		{"PullN over the batch limit", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.PullN(ctx, "q", broker.MaxPullBatch+1)
			return err
		}, broker.ErrInvalidArgument},
		{"PullWith a lease below 1ms", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.PullWith(ctx, "q", broker.PullOptions{Lease: time.Microsecond})
			return err
		}, broker.ErrInvalidArgument},
		{"PullWith a negative lease", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.PullWith(ctx, "q", broker.PullOptions{Lease: -time.Second})
			return err
		}, broker.ErrInvalidArgument},
		{"PullWith a negative count", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.PullWith(ctx, "q", broker.PullOptions{Count: -1})
			return err
		}, broker.ErrInvalidArgument},
		{"priority -1", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.SetFacetPriority(ctx, "q", "f", -1)
		}, broker.ErrInvalidArgument},
		{"priority 1001", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.SetFacetPriority(ctx, "q", "f", broker.MaxPriority+1)
		}, broker.ErrInvalidArgument},
		{"priority of an empty facet", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.SetFacetPriority(ctx, "q", "", 1)
		}, broker.ErrInvalidFacet},
		{"negative in-flight limit", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.SetInflightLimit(ctx, "q", -1)
		}, broker.ErrInvalidArgument},
		{"Facet of a facet of 1025 bytes", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.Facet(ctx, "q", long)
			return err
		}, broker.ErrInvalidFacet},
		{"TopFacets(0)", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.TopFacets(ctx, "q", 0)
			return err
		}, broker.ErrInvalidArgument},
		{"DeadLetters offset -1", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.DeadLetters(ctx, "q", -1, 1)
			return err
		}, broker.ErrInvalidArgument},
		{"DeadLetters limit 0", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.DeadLetters(ctx, "q", 0, 0)
			return err
		}, broker.ErrInvalidArgument},
		{"Ack nil", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error { return b.Ack(ctx, nil) }, broker.ErrInvalidMessage},
		{"AckMany with a nil", func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
			return b.AckMany(ctx, []*broker.Message{m, nil})
		}, broker.ErrInvalidMessage},
		{"Ack not pulled", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error { return b.Ack(ctx, forged) }, broker.ErrInvalidMessage},
		{"Nack nil", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error { return b.Nack(ctx, nil, 0) }, broker.ErrInvalidMessage},
		{"Nack not pulled", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error { return b.Nack(ctx, forged, 0) }, broker.ErrInvalidMessage},
		{"Nack negative delay", func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
			return b.Nack(ctx, m, -time.Second)
		}, broker.ErrInvalidArgument},
		{"Extend nil", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.Extend(ctx, nil, time.Second)
		}, broker.ErrInvalidMessage},
		{"Extend not pulled", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			return b.Extend(ctx, forged, time.Second)
		}, broker.ErrInvalidMessage},
		{"Extend by 0", func(ctx context.Context, b *broker.Broker, m *broker.Message) error { return b.Extend(ctx, m, 0) }, broker.ErrInvalidArgument},
		{"Release nil", func(ctx context.Context, b *broker.Broker, m *broker.Message) error { return b.Release(ctx, m, nil) }, broker.ErrInvalidMessage},
		{"Release not pulled", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error { return b.Release(ctx, forged) }, broker.ErrInvalidMessage},
		{"Kill nil", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error { return b.Kill(ctx, nil, "x") }, broker.ErrInvalidMessage},
		{"Kill not pulled", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error { return b.Kill(ctx, forged, "x") }, broker.ErrInvalidMessage},
		{"Watch of no queue", func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
			_, err := b.Watch(ctx)
			return err
		}, broker.ErrInvalidArgument},
	}
	for _, q := range []string{"", "a b", "a{b", "a:b", "ü", strings.Repeat("q", broker.MaxQueueNameBytes+1)} {
		queueCalls := map[string]func(ctx context.Context, b *broker.Broker) error{
			"RegisterQueue":   func(ctx context.Context, b *broker.Broker) error { return b.RegisterQueue(ctx, q, ".") },
			"UnregisterQueue": func(ctx context.Context, b *broker.Broker) error { return b.UnregisterQueue(ctx, q) },
			"DestroyQueue":    func(ctx context.Context, b *broker.Broker) error { return b.DestroyQueue(ctx, q) },
			"Pull":            func(ctx context.Context, b *broker.Broker) error { _, err := b.Pull(ctx, q); return err },
			"Stats":           func(ctx context.Context, b *broker.Broker) error { _, err := b.Stats(ctx, q); return err },
			"SetFacetPriority": func(ctx context.Context, b *broker.Broker) error {
				return b.SetFacetPriority(ctx, q, "f", 2)
			},
			"SetInflightLimit": func(ctx context.Context, b *broker.Broker) error { return b.SetInflightLimit(ctx, q, 2) },
			"RequeueAllDead":   func(ctx context.Context, b *broker.Broker) error { _, err := b.RequeueAllDead(ctx, q); return err },
			"Watch":            func(ctx context.Context, b *broker.Broker) error { _, err := b.Watch(ctx, q); return err },
		}
		for name, call := range queueCalls {
			tests = append(tests, badInput{name + " of queue " + truncate(q), func(ctx context.Context, b *broker.Broker, _ *broker.Message) error {
				return call(ctx, b)
			}, broker.ErrInvalidQueueName})
		}
	}
	return tests
}

func truncate(s string) string {
	if len(s) > 10 {
		return s[:10] + "..."
	}
	return s
}

// Bad input is refused with an error that wraps the right sentinel, and
// nothing is written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, tc := range badInputs() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{MaxMessageBytes: 1000})
				deliverN(t, b, "f", 2)
				m := pull(t, b, "q")
				before, stBefore := snapshot(t, b), stats(t, b, "q")
				err := tc.call(t.Context(), b, m)
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want an error wrapping %v", err, tc.want)
				}
				if !strings.HasPrefix(err.Error(), "broker: ") || strings.Contains(err.Error(), "ERR ") || strings.Contains(err.Error(), "user_script") {
					t.Errorf("unclear error %q", err)
				}
				if after := snapshot(t, b); !maps.Equal(before, after) {
					t.Errorf("the refused call wrote:\nbefore %v\nafter  %v", before, after)
				}
				if st := stats(t, b, "q"); st != stBefore {
					t.Errorf("Stats %+v, was %+v", st, stBefore)
				}
			})
		}
	})
}

// Every call on a broker whose client is closed returns an error.
func TestClosedClient(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		live := newQueue(t, rdb, broker.Config{})
		deliverN(t, live, "f", 1)
		m := pull(t, live, "q")
		closed := newClient(t, rdb)
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		b := newBroker(t, closed, broker.Config{Namespace: live.Namespace()})
		ctx := t.Context()
		calls := map[string]func() error{
			"RegisterQueue":   func() error { return b.RegisterQueue(ctx, "q2", ".") },
			"UnregisterQueue": func() error { return b.UnregisterQueue(ctx, "q") },
			"DestroyQueue":    func() error { return b.DestroyQueue(ctx, "q") },
			"Queues":          func() error { _, err := b.Queues(ctx); return err },
			"Deliver":         func() error { return b.Deliver(ctx, map[string]any{"topic": "t"}) },
			"DeliverBytes":    func() error { return b.DeliverBytes(ctx, "t", "f", nil) },
			"DeliverBatch": func() error {
				return b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: "f"}, {Topic: "u", Facet: "g"}})
			},
			"Pull":             func() error { _, err := b.Pull(ctx, "q"); return err },
			"PullN":            func() error { _, err := b.PullN(ctx, "q", 5); return err },
			"Ack":              func() error { return b.Ack(ctx, m) },
			"Nack":             func() error { return b.Nack(ctx, m, 0) },
			"Extend":           func() error { return b.Extend(ctx, m, time.Second) },
			"Release":          func() error { return b.Release(ctx, m) },
			"Kill":             func() error { return b.Kill(ctx, m, "x") },
			"SetFacetPriority": func() error { return b.SetFacetPriority(ctx, "q", "f", 2) },
			"SetInflightLimit": func() error { return b.SetInflightLimit(ctx, "q", 2) },
			"Stats":            func() error { _, err := b.Stats(ctx, "q"); return err },
			"Facet":            func() error { _, err := b.Facet(ctx, "q", "f"); return err },
			"TopFacets":        func() error { _, err := b.TopFacets(ctx, "q", 3); return err },
			"DeadLetters":      func() error { _, err := b.DeadLetters(ctx, "q", 0, 3); return err },
			"RequeueDead":      func() error { _, err := b.RequeueDead(ctx, "q", "x"); return err },
			"RequeueAllDead":   func() error { _, err := b.RequeueAllDead(ctx, "q"); return err },
			"PurgeDead":        func() error { _, err := b.PurgeDead(ctx, "q", "x"); return err },
			"PurgeAllDead":     func() error { _, err := b.PurgeAllDead(ctx, "q"); return err },
			"Subscribe":        func() error { _, err := b.Subscribe(ctx, "*"); return err },
			"Watch":            func() error { _, err := b.Watch(ctx, "q"); return err },
		}
		for _, name := range slices.Sorted(maps.Keys(calls)) {
			if err := calls[name](); err == nil || !errors.Is(err, redis.ErrClosed) {
				t.Errorf("%s on a closed client: %v, want an error wrapping redis.ErrClosed", name, err)
			}
		}
		ack(t, live, m) // nothing happened to it
	})
}
