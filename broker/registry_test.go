package broker_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func TestRegistryRouting(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		patterns := map[string]string{
			"orders":  `^orders\.`,
			"created": `created`, // unanchored: anywhere in the topic
			"users":   `^users$`,
			"none":    `^nothing$`,
		}
		for q, p := range patterns {
			register(t, b, q, p)
		}
		topics := []string{"orders.created", "orders.paid", "users", "payments.created", "xusers", "users.x"}
		for i, topic := range topics {
			if i%2 == 0 {
				deliver(t, b, topic, "f", topic)
			} else if err := b.Deliver(t.Context(), map[string]any{"topic": topic, "facet": "f"}); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string][]string{
			"orders":  {"orders.created", "orders.paid"},
			"created": {"orders.created", "payments.created"},
			"users":   {"users"},
			"none":    nil,
		}
		for q, topics := range want {
			var got []string
			for {
				m, err := b.Pull(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				if m == nil {
					break
				}
				got = append(got, m.Topic)
			}
			if !slices.Equal(got, topics) {
				t.Errorf("queue %s got topics %q, want %q", q, got, topics)
			}
		}
	})
}

func TestRegistryLifecycle(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "a", "^a$")
		register(t, b, "b", "^b")
		replacePattern(t, b, "b", "^bb$") // a new pattern replaces the old
		if qs, err := b.Queues(ctx); err != nil || !maps.Equal(qs, map[string]string{"a": "^a$", "b": "^bb$"}) {
			t.Fatalf("Queues = %v, %v", qs, err)
		}
		deliver(t, b, "b", "f", "old pattern")
		deliver(t, b, "bb", "f", "new pattern")
		if got := drain(t, b, "b"); !slices.Equal(got, []string{"f:new pattern"}) {
			t.Fatalf("b got %q", got)
		}

		deliver(t, b, "a", "f", "kept")
		if err := b.UnregisterQueue(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if qs, _ := b.Queues(ctx); !maps.Equal(qs, map[string]string{"b": "^bb$"}) {
			t.Fatalf("Queues after UnregisterQueue = %v", qs)
		}
		deliver(t, b, "a", "f", "not routed")
		wantStats(t, b, "a", broker.QueueStats{Ready: 1, Facets: 1})
		if got := drain(t, b, "a"); !slices.Equal(got, []string{"f:kept"}) {
			t.Fatalf("unregistered queue gave %q, want its old message only", got)
		}
		register(t, b, "a", "^a$")
		deliver(t, b, "a", "f", "routed again")
		if got := drain(t, b, "a"); !slices.Equal(got, []string{"f:routed again"}) {
			t.Fatalf("re-registered queue gave %q", got)
		}
	})
}

func TestDestroyQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{MaxAttempts: 1})
		register(t, b, "q", ".")
		register(t, b, "other", ".")
		if err := b.SetInflightLimit(ctx, "q", 5); err != nil {
			t.Fatal(err)
		}
		if err := b.SetFacetPriority(ctx, "q", "ready", 3); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t", "leased", "1")
		deliver(t, b, "t", "dead", "2")
		deliver(t, b, "t", "ready", "3")
		deliver(t, b, "t", "ready", "4")
		deliver(t, b, "t", "delayed", "5", broker.WithDelay(time.Hour))
		pull(t, b, "q")
		if err := b.Kill(ctx, pull(t, b, "q"), "dead"); err != nil {
			t.Fatal(err)
		}
		wantStats(t, b, "q", broker.QueueStats{Ready: 2, InFlight: 1, Delayed: 1, Dead: 1, Facets: 1, Routed: true, InflightLimit: 5})
		if ks := keys(t, rdb, b.Namespace()+":{q}:*"); len(ks) < 10 {
			t.Fatalf("expected a populated queue, got keys %q", ks)
		}
		otherBefore := keys(t, rdb, b.Namespace()+":{other}:*")

		if err := b.DestroyQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if ks := keysKept(t, rdb, b.Namespace()+":{q}:*"); len(ks) != 0 {
			t.Errorf("keys left after DestroyQueue: %q", ks)
		}
		if after := keys(t, rdb, b.Namespace()+":{other}:*"); !slices.Equal(after, otherBefore) {
			t.Errorf("DestroyQueue touched another queue: %q, was %q", after, otherBefore)
		}
		if qs, _ := b.Queues(ctx); !maps.Equal(qs, map[string]string{"other": "."}) {
			t.Errorf("Queues after DestroyQueue = %v", qs)
		}
		if _, err := b.Stats(ctx, "q"); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Errorf("Stats of destroyed queue: %v, want ErrUnknownQueue", err)
		}
		if _, err := b.Pull(ctx, "q"); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Errorf("Pull of destroyed queue: %v, want ErrUnknownQueue", err)
		}
		if err := b.DestroyQueue(ctx, "q"); err != nil {
			t.Errorf("second DestroyQueue: %v", err)
		}
	})
}

// Another process's registry changes reach a broker whose cache is warm.
func TestRegistryAcrossBrokers(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		ns := testutil.Namespace(t)
		admin := newBroker(t, rdb, broker.Config{Namespace: ns})
		producer := newBroker(t, rdb, broker.Config{Namespace: ns})
		register(t, admin, "warm", "^warm$")
		register(t, admin, "moving", "^a$")
		for _, b := range []*broker.Broker{admin, producer} { // load both caches
			deliver(t, b, "warm", "f", "w")
			deliver(t, b, "a", "f", "w")
		}

		register(t, admin, "new", "^t$")
		deliver(t, producer, "t", "f", "after register")
		if got := drain(t, admin, "new"); !slices.Equal(got, []string{"f:after register"}) {
			t.Fatalf("registered queue got %q from the other broker's next Deliver", got)
		}

		if err := admin.UnregisterQueue(ctx, "new"); err != nil {
			t.Fatal(err)
		}
		deliver(t, producer, "t", "f", "after unregister")
		pullNone(t, admin, "new")

		drain(t, admin, "moving")
		replacePattern(t, admin, "moving", "^b$")
		deliver(t, producer, "a", "f", "old pattern")
		deliver(t, producer, "b", "f", "new pattern")
		if got := drain(t, admin, "moving"); !slices.Equal(got, []string{"f:new pattern"}) {
			t.Fatalf("queue with a changed pattern got %q from the other broker", got)
		}

		replacePattern(t, admin, "moving", "^(b|c)$") // still matches b
		deliver(t, producer, "b", "f", "both patterns")
		deliver(t, producer, "c", "f", "widened")
		if got := drain(t, admin, "moving"); !slices.Equal(got, []string{"f:both patterns", "f:widened"}) {
			t.Fatalf("queue with a widened pattern got %q from the other broker", got)
		}
	})
}
