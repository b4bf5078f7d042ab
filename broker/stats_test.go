package broker_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// mixedQueue leaves q with facet a: 3 ready, b: 2 ready and 1 leased,
// c: 1 ready (priority 4), d: 1 delayed, and one dead letter of a.
func mixedQueue(t *testing.T, rdb redis.UniversalClient) *broker.Broker {
	t.Helper()
	b := newQueue(t, rdb, broker.Config{})
	setLimit(t, b, 5)
	setPriority(t, b, "c", 4)
	deliverN(t, b, "a", 4)
	deliverN(t, b, "b", 3)
	deliverN(t, b, "c", 1)
	deliver(t, b, "t", "d", "later", broker.WithDelay(time.Hour))
	ms := pullLease(t, b, 2, time.Minute)
	if ms[0].Facet != "a" || ms[1].Facet != "b" {
		t.Fatalf("pulled %v, %v", ms[0], ms[1])
	}
	if err := b.Kill(t.Context(), ms[0], "dead"); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStats(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := mixedQueue(t, rdb)
		want := broker.QueueStats{Ready: 6, InFlight: 1, Delayed: 1, Dead: 1, Facets: 3, InflightLimit: 5, Routed: true}
		wantStats(t, b, "q", want)
		if err := b.UnregisterQueue(t.Context(), "q"); err != nil {
			t.Fatal(err)
		}
		want.Routed = false
		wantStats(t, b, "q", want)
		if _, err := b.Stats(t.Context(), "nope"); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Fatalf("Stats of an unknown queue: %v, want ErrUnknownQueue", err)
		}
	})
}

func TestFacetStats(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := mixedQueue(t, rdb)
		tests := []broker.FacetStats{
			{Facet: "a", Ready: 3, Priority: 1},
			{Facet: "b", Ready: 2, InFlight: 1, Priority: 1},
			{Facet: "c", Ready: 1, Priority: 4},
			{Facet: "d", Priority: 1}, // delayed messages are not ready
			{Facet: "unknown", Priority: 1},
		}
		for _, want := range tests {
			if got, err := b.Facet(t.Context(), "q", want.Facet); err != nil || got != want {
				t.Errorf("Facet(%q) = %+v, %v; want %+v", want.Facet, got, err, want)
			}
		}
	})
}

func TestTopFacets(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := mixedQueue(t, rdb)
		all := []broker.FacetStats{
			{Facet: "a", Ready: 3, Priority: 1},
			{Facet: "b", Ready: 2, InFlight: 1, Priority: 1},
			{Facet: "c", Ready: 1, Priority: 4},
		}
		for _, n := range []int{1, 2, 3, 10} {
			got, err := b.TopFacets(t.Context(), "q", n)
			if want := all[:min(n, 3)]; err != nil || !slices.Equal(got, want) {
				t.Errorf("TopFacets(%d) = %+v, %v; want %+v", n, got, err, want)
			}
		}
		drain(t, b, "q")
		if got, err := b.TopFacets(t.Context(), "q", 3); err != nil || len(got) != 0 {
			t.Errorf("TopFacets of an empty queue = %+v, %v", got, err)
		}
	})
}
