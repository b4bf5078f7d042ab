package broker_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// channelRecorder records the channel of every message published on the
// server, until a message on its own barrier channel.
type channelRecorder struct {
	ps      *redis.PubSub
	barrier string
}

func recordChannels(t *testing.T, rdb redis.UniversalClient) *channelRecorder {
	t.Helper()
	r := &channelRecorder{barrier: testutil.Namespace(t) + ":barrier"}
	r.ps = rdb.PSubscribe(t.Context(), "*")
	if _, err := r.ps.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.ps.Close() })
	return r
}

// until publishes on the barrier and returns the channels published on
// before it.
func (r *channelRecorder) until(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	if err := rdb.Publish(t.Context(), r.barrier, "").Err(); err != nil {
		t.Fatal(err)
	}
	var out []string
	ch := r.ps.Channel()
	for {
		select {
		case m := <-ch:
			if m.Channel == r.barrier {
				return out
			}
			out = append(out, m.Channel)
		case <-time.After(waitTimeout):
			t.Fatal("the barrier message never came")
		}
	}
}

// nextEvent returns the next event of s.
func nextEvent(t *testing.T, s *broker.Subscription) *broker.Event {
	t.Helper()
	select {
	case ev := <-s.Channel():
		return ev
	case <-time.After(waitTimeout):
		t.Fatal("no event")
		return nil
	}
}

// TestNamespacesIsolate runs two brokers with the same queues, topics and
// facets in two namespaces of one server: neither sees the other's queues,
// messages, settings, dead letters, events or wake-ups.
func TestNamespacesIsolate(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		a := newBroker(t, rdb, broker.Config{LeaseDuration: time.Minute})
		b := newBroker(t, rdb, broker.Config{LeaseDuration: time.Minute})
		for _, x := range []*broker.Broker{a, b} {
			register(t, x, "q", ".")
			register(t, x, "r", "^only-b$")
		}
		if err := b.UnregisterQueue(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		subA, err := a.Subscribe(ctx, "*")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = subA.Close() }()
		subB, err := b.Subscribe(ctx, "*")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = subB.Close() }()
		rec := recordChannels(t, rdb)

		// Everything a can do to its queue "q".
		for _, f := range []string{"f", "g"} {
			deliver(t, a, "t", f, "a-"+f)
		}
		deliver(t, a, "t", "f", "a-delayed", broker.WithDelay(time.Hour))
		setPriority(t, a, "f", 3)
		if err := a.SetInflightLimit(ctx, "q", 5); err != nil {
			t.Fatal(err)
		}
		if err := a.Kill(ctx, pull(t, a, "q"), "dead in a"); err != nil {
			t.Fatal(err)
		}
		pull(t, a, "q") // left leased
		channels := rec.until(t, rdb)

		// b sees none of it.
		pullNone(t, b, "q")
		wantStats(t, b, "q", broker.QueueStats{Routed: true})
		if fs, err := b.Facet(ctx, "q", "f"); err != nil || fs != (broker.FacetStats{Facet: "f", Priority: 1}) {
			t.Errorf("b's facet f: %+v, %v", fs, err)
		}
		if dead, err := b.DeadLetters(ctx, "q", 0, 10); err != nil || len(dead) != 0 {
			t.Errorf("b's dead letters: %v, %v", dead, err)
		}
		qa, errA := a.Queues(ctx)
		qb, errB := b.Queues(ctx)
		if errA != nil || errB != nil || !maps.Equal(qa, map[string]string{"q": ".", "r": "^only-b$"}) ||
			!maps.Equal(qb, map[string]string{"q": "."}) {
			t.Errorf("Queues: a %v %v, b %v %v", qa, errA, qb, errB)
		}
		// Pub/sub is ordered: had a's events reached b's subscription, they
		// would come before b's own.
		deliver(t, b, "marker", "f", "b")
		if ev := nextEvent(t, subB); ev.Topic != "marker" {
			t.Errorf("b's subscription got %q %q first", ev.Topic, ev.Body)
		}
		for _, want := range []string{"a-f", "a-g", "a-delayed"} {
			if ev := nextEvent(t, subA); string(ev.Body) != want {
				t.Errorf("a's subscription got %q, want %q", ev.Body, want)
			}
		}
		deliver(t, a, "marker", "f", "a")
		if ev := nextEvent(t, subA); string(ev.Body) != "a" {
			t.Errorf("a's subscription got %q %q; b's delivery leaked", ev.Topic, ev.Body)
		}
		// Nothing a did published on a channel of b: no event, no wake-up.
		for _, c := range channels {
			if strings.HasPrefix(c, b.Namespace()) {
				t.Errorf("a published on b's channel %q", c)
			}
		}
		if !slices.Contains(channels, a.Namespace()+"/wake/q") || !slices.Contains(channels, a.Namespace()+":t") {
			t.Errorf("a published on %v; want its topic and wake channels", channels)
		}
		// And b's work does not touch a's queue.
		m := pull(t, b, "q")
		if string(m.Body) != "b" {
			t.Fatalf("b pulled %q", m.Body)
		}
		ack(t, b, m)
		wantStats(t, a, "q", broker.QueueStats{Ready: 1, InFlight: 1, Delayed: 1, Dead: 1, Facets: 1, InflightLimit: 5, Routed: true}) // Ready: a's marker
		for _, x := range []*broker.Broker{a, b} {
			testutil.RequireQueueInvariants(t, rdb, x.Namespace(), "q")
		}
	})
}

// TestNamespaceKeys checks that a broker writes only keys under its
// namespace: "<ns>:{<queue>}:..." and "<ns>:{~registry}:...".
func TestNamespaceKeys(t *testing.T) {
	t.Parallel()
	mr, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb, broker.Config{})
	roundTrip(t, b)
	deliver(t, b, "t.b", "f", "x", broker.WithIdempotencyKey("k", 0), broker.WithDelay(time.Hour))
	deliver(t, b, "t.b", "f", "y")
	if err := b.Kill(context.Background(), pull(t, b, "q"), "x"); err != nil {
		t.Fatal(err)
	}
	for _, k := range mr.Keys() {
		if !strings.HasPrefix(k, b.Namespace()+":{") {
			t.Errorf("key %q is outside the namespace", k)
		}
	}
}
