package broker_test

import (
	"errors"
	"fmt"
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
			{Facet: "a", Ready: 3, Priority: 1, InflightLimit: 5},
			{Facet: "b", Ready: 2, InFlight: 1, Priority: 1, InflightLimit: 5},
			{Facet: "c", Ready: 1, Priority: 4, InflightLimit: 5},
			{Facet: "d", Priority: 1, InflightLimit: 5}, // delayed messages are not ready
			{Facet: "unknown", Priority: 1, InflightLimit: 5},
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
			{Facet: "a", Ready: 3, Priority: 1, InflightLimit: 5},
			{Facet: "b", Ready: 2, InFlight: 1, Priority: 1, InflightLimit: 5},
			{Facet: "c", Ready: 1, Priority: 4, InflightLimit: 5},
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

// TopFacets finds the facets with large backlogs among many more small
// ones than it reads (the deep ranking), in order, and follows them as
// pulls shrink them across a multiple of DeepBacklog.
func TestTopFacetsAmongMany(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		var ds []broker.Delivery
		for i := range 1500 {
			ds = append(ds, broker.Delivery{Topic: "t", Facet: fmt.Sprintf("small-%04d", i), Body: []byte("x")})
		}
		for f, n := range map[string]int{"big": 300, "mid": 130, "low": 65} {
			for range n {
				ds = append(ds, broker.Delivery{Topic: "t", Facet: f, Body: []byte("x")})
			}
		}
		if err := b.DeliverBatch(ctx, ds); err != nil {
			t.Fatal(err)
		}
		names := func(fs []broker.FacetStats) []string {
			var out []string
			for _, f := range fs {
				out = append(out, fmt.Sprint(f.Facet, "=", f.Ready))
			}
			return out
		}
		got, err := b.TopFacets(ctx, "q", 3)
		if want := []string{"big=300", "mid=130", "low=65"}; err != nil || !slices.Equal(names(got), want) {
			t.Fatalf("TopFacets(3) = %v, %v; want %v", names(got), err, want)
		}
		if got, err := b.TopFacets(ctx, "q", 5); err != nil || len(got) != 5 || got[3].Ready != 1 {
			t.Fatalf("TopFacets(5) = %v, %v; want the three, then two small ones", names(got), err)
		}
		// Pull everything but "big" down below 64, and "big" below "mid".
		if err := b.SetFacetPriority(ctx, "q", "mid", 0); err != nil {
			t.Fatal(err)
		}
		for left := 1500 + 300 + 65 - 100; left > 0; {
			ms, err := b.PullN(ctx, "q", min(left, 500))
			if err != nil || len(ms) == 0 {
				t.Fatalf("PullN: %d, %v", len(ms), err)
			}
			if err := b.AckMany(ctx, ms); err != nil {
				t.Fatal(err)
			}
			left -= len(ms)
		}
		checkInvariants(t, b, "q")
		got, err = b.TopFacets(ctx, "q", 2)
		if err != nil || len(got) != 2 || got[0].Facet != "mid" || got[0].Ready != 130 || got[1].Facet != "big" || got[1].Ready != 100 {
			t.Fatalf("after the pulls: TopFacets(2) = %v, %v; want mid=130, big=100", names(got), err)
		}
	})
}

// The deep ranking's scores are exact only to their multiple of
// DeepBacklog, so TopFacets reads every facet that shares the n-th's
// multiple: a facet whose score lags its count still comes first.
func TestTopFacetsWithinAMultiple(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		batch := func(f string, n int) {
			ds := make([]broker.Delivery, n)
			for i := range ds {
				ds[i] = broker.Delivery{Topic: "t", Facet: f, Body: []byte("x")}
			}
			if err := b.DeliverBatch(ctx, ds); err != nil {
				t.Fatal(err)
			}
		}
		batch("x", 100)
		batch("y", 65) // scored 65 ...
		for range 60 {
			deliver(t, b, "t", "y", "x") // ... and still, at 125 ready
		}
		checkInvariants(t, b, "q")
		got, err := b.TopFacets(ctx, "q", 1)
		if err != nil || len(got) != 1 || got[0].Facet != "y" || got[0].Ready != 125 {
			t.Fatalf("TopFacets(1) = %+v, %v; want y with 125", got, err)
		}
	})
}
