package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func setPriority(t *testing.T, b *broker.Broker, facet string, p int) {
	t.Helper()
	if err := b.SetFacetPriority(t.Context(), "q", facet, p); err != nil {
		t.Fatalf("SetFacetPriority(%q, %d): %v", facet, p, err)
	}
}

func deliverN(t *testing.T, b *broker.Broker, facet string, n int) {
	t.Helper()
	for i := range n {
		deliver(t, b, "t", facet, fmt.Sprint(i))
	}
}

// The worked example of the original's test suite.
func TestPriorityOriginalScenario(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		for i := range 5 {
			if err := b.Deliver(t.Context(), map[string]any{"facet": "1", "i": i}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			if err := b.Deliver(t.Context(), map[string]any{"facet": "2", "i": i}); err != nil {
				t.Fatal(err)
			}
		}
		setPriority(t, b, "1", 2)
		want := []string{"1", "2", "1", "1", "2", "1", "1", "2"}
		if got := facets(drain(t, b, "q")); !slices.Equal(got, want) {
			t.Fatalf("facets %q, want %q", got, want)
		}
	})
}

func TestPriorityWeights(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := []struct {
			name  string
			setup func(t *testing.T, b *broker.Broker)
			want  []string
		}{
			{"set before delivery", func(t *testing.T, b *broker.Broker) {
				setPriority(t, b, "a", 3)
				deliverN(t, b, "a", 6)
				deliverN(t, b, "b", 3)
			}, []string{"a", "a", "a", "b", "a", "a", "a", "b", "b"}},
			{"set to 1 again", func(t *testing.T, b *broker.Broker) {
				setPriority(t, b, "a", 3)
				setPriority(t, b, "a", 1)
				deliverN(t, b, "a", 3)
				deliverN(t, b, "b", 3)
			}, []string{"a", "b", "a", "b", "a", "b"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				tc.setup(t, b)
				if got := facets(drain(t, b, "q")); !slices.Equal(got, tc.want) {
					t.Fatalf("facets %q, want %q", got, tc.want)
				}
			})
		}
	})
}

func TestPriorityPause(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, resume := range []int{1, 2} {
			t.Run(fmt.Sprint("resume to ", resume), func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				deliverN(t, b, "a", 2)
				deliverN(t, b, "b", 2)
				setPriority(t, b, "a", 0)
				deliverN(t, b, "a", 1) // a paused facet still accepts messages
				if got := facets(drain(t, b, "q")); !slices.Equal(got, []string{"b", "b"}) {
					t.Fatalf("with a paused, pulled %q", got)
				}
				fs, err := b.Facet(t.Context(), "q", "a")
				if err != nil || fs != (broker.FacetStats{Facet: "a", Ready: 3, Priority: 0}) {
					t.Fatalf("Facet(a) = %+v, %v", fs, err)
				}
				setPriority(t, b, "a", resume)
				if got := drain(t, b, "q"); !slices.Equal(got, []string{"a:0", "a:1", "a:0"}) {
					t.Fatalf("after resuming, pulled %q", got)
				}
			})
		}
	})
}

func TestPriorityLowered(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 40)
		deliverN(t, b, "b", 40)
		setPriority(t, b, "a", 3)
		var got []string
		for range 8 {
			m := pull(t, b, "q")
			got = append(got, m.Facet)
			ack(t, b, m)
		}
		if n := count(got, "a"); n != 6 {
			t.Fatalf("with priority 3, a got %d of 8 turns: %q", n, got)
		}
		setPriority(t, b, "a", 1)
		if fs, _ := b.Facet(t.Context(), "q", "a"); fs.Priority != 1 {
			t.Fatalf("Facet(a).Priority = %d", fs.Priority)
		}
		got = nil
		for range 30 {
			m := pull(t, b, "q")
			got = append(got, m.Facet)
			ack(t, b, m)
		}
		tail := got[len(got)-20:]
		for i := 1; i < len(tail); i++ {
			if tail[i] == tail[i-1] {
				t.Fatalf("after lowering to 1, no 1:1 alternation: %q", got)
			}
		}
	})
}

func TestPriorityUnknownQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		if err := b.SetFacetPriority(t.Context(), "nope", "f", 2); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Fatalf("got %v, want ErrUnknownQueue", err)
		}
		if ks := keys(t, rdb, b.Namespace()+":*"); len(ks) != 0 {
			t.Fatalf("wrote %q", ks)
		}
	})
}

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
