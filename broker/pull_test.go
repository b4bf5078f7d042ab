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

func TestPullFIFOWithinFacet(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		var want []string
		for i := range 20 {
			body := fmt.Sprintf("m%02d", i)
			deliver(t, b, "t", "f", body)
			want = append(want, "f:"+body)
		}
		if got := drain(t, b, "q"); !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

func TestPullRoundRobin(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := []struct {
			name   string
			ack    bool
			counts map[string]int // messages per facet, delivered facet by facet
			want   []string
		}{
			{"acking", true, map[string]int{"a": 3, "b": 3, "c": 3},
				[]string{"a", "b", "c", "a", "b", "c", "a", "b", "c"}},
			{"not acking", false, map[string]int{"a": 3, "b": 3, "c": 3},
				[]string{"a", "b", "c", "a", "b", "c", "a", "b", "c"}},
			{"uneven", true, map[string]int{"a": 4, "b": 1, "c": 2},
				[]string{"a", "b", "c", "a", "c", "a", "a"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				for _, f := range []string{"a", "b", "c"} {
					for i := range tc.counts[f] {
						deliver(t, b, "t", f, fmt.Sprint(i))
					}
				}
				var got []string
				next := map[string]int{}
				for range len(tc.want) {
					m := pull(t, b, "q")
					if want := fmt.Sprint(next[m.Facet]); string(m.Body) != want {
						t.Fatalf("facet %s gave %q, want %q (FIFO)", m.Facet, m.Body, want)
					}
					next[m.Facet]++
					got = append(got, m.Facet)
					if tc.ack {
						ack(t, b, m)
					}
				}
				pullNone(t, b, "q")
				if !slices.Equal(got, tc.want) {
					t.Fatalf("facets %q, want %q", got, tc.want)
				}
			})
		}
	})
}

func TestPullEmpty(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		pullNone(t, b, "q")
		ms, err := b.PullN(t.Context(), "q", 10)
		if err != nil || len(ms) != 0 {
			t.Fatalf("PullN = %v, %v; want none", ms, err)
		}
		for _, pull := range []func() error{
			func() error { _, err := b.Pull(t.Context(), "nope"); return err },
			func() error { _, err := b.PullN(t.Context(), "nope", 3); return err },
		} {
			if err := pull(); !errors.Is(err, broker.ErrUnknownQueue) {
				t.Fatalf("pull of an unknown queue: %v, want ErrUnknownQueue", err)
			}
		}
	})
}

func TestPullDrainedFacetLeavesRing(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliver(t, b, "t", "a", "a1")
		deliver(t, b, "t", "b", "b1")
		deliver(t, b, "t", "b", "b2")
		deliver(t, b, "t", "c", "c1")
		wantFacets := func(n int64) {
			t.Helper()
			if got := stats(t, b, "q").Facets; got != n {
				t.Fatalf("Stats.Facets = %d, want %d", got, n)
			}
		}
		wantFacets(3)
		ack(t, b, pull(t, b, "q")) // a1: facet a drained
		wantFacets(2)
		if fs, err := b.Facet(t.Context(), "q", "a"); err != nil || fs.Ready != 0 {
			t.Fatalf("Facet(a) = %+v, %v", fs, err)
		}
		deliver(t, b, "t", "a", "a2") // a starts a fresh turn, after b and c
		wantFacets(3)
		want := []string{"b:b1", "c:c1", "a:a2", "b:b2"}
		if got := drain(t, b, "q"); !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		wantFacets(0)
	})
}

func TestPullIdenticalBodies(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliver(t, b, "t", "f", "same")
		deliver(t, b, "t", "f", "same")
		if err := b.Deliver(t.Context(), map[string]any{"facet": "g"}); err != nil {
			t.Fatal(err)
		}
		if err := b.Deliver(t.Context(), map[string]any{"facet": "g"}); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for range 4 {
			m := pull(t, b, "q")
			ids[m.ID] = true
			ack(t, b, m)
		}
		pullNone(t, b, "q")
		if len(ids) != 4 {
			t.Fatalf("4 deliveries gave IDs %v", ids)
		}
	})
}

// PullN takes facets in the same order as that many Pulls would.
func TestPullNMatchesPull(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "one", ".")
		register(t, b, "many", ".")
		for _, q := range []string{"one", "many"} {
			if err := b.SetFacetPriority(ctx, q, "b", 3); err != nil {
				t.Fatal(err)
			}
		}
		for i, f := range []string{"a", "b", "c", "b", "a", "b", "b", "b", "d", "c", "b", "a", "b", "b"} {
			deliver(t, b, "t", f, fmt.Sprint(i))
		}
		var one, many []string
		for {
			m, err := b.Pull(ctx, "one")
			if err != nil {
				t.Fatal(err)
			}
			if m == nil {
				break
			}
			one = append(one, m.ID+" "+m.Facet+":"+string(m.Body))
		}
		for {
			ms, err := b.PullN(ctx, "many", 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) > 4 {
				t.Fatalf("PullN(4) gave %d", len(ms))
			}
			if len(ms) == 0 {
				break
			}
			for _, m := range ms {
				many = append(many, m.ID+" "+m.Facet+":"+string(m.Body))
			}
		}
		if len(one) != 14 || !slices.Equal(one, many) {
			t.Fatalf("Pull order %q\nPullN order %q", one, many)
		}
	})
}

func TestPullMessageFields(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := map[string][]byte{
			"text":   []byte("hello"),
			"binary": {0, 1, 0xff, '\n', ':', '1', '0', ':'},
			"empty":  {},
		}
		for name, body := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				before := time.Now()
				if err := b.DeliverBytes(t.Context(), "orders.created", "acme", body); err != nil {
					t.Fatal(err)
				}
				m := pull(t, b, "q")
				now := redisNow(t, rdb)
				if len(m.ID) != 14 || m.Queue != "q" || m.Topic != "orders.created" || m.Facet != "acme" ||
					string(m.Body) != string(body) || m.Attempt != 1 {
					t.Fatalf("pulled %v with body %q", m, m.Body)
				}
				if d := m.EnqueuedAt.Sub(before); d < -time.Second || d > 5*time.Second {
					t.Errorf("EnqueuedAt %v is %v from the delivery", m.EnqueuedAt, d)
				}
				if d := m.LeaseDeadline.Sub(now); d < 25*time.Second || d > 30*time.Second {
					t.Errorf("LeaseDeadline %v is %v ahead, want about 30s", m.LeaseDeadline, d)
				}
			})
		}
	})
}

// A drained facet of high priority leaves no turns behind that would make
// Pull answer nil while another facet has work.
func TestPullAfterHighPriorityFacetDrains(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, n := range []int{1, 3} {
			t.Run(fmt.Sprint("PullN(", n, ")"), func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				setPriority(t, b, "a", broker.MaxPriority)
				deliverN(t, b, "a", 300)
				for range 300 / n {
					if got := pulled(t, b, n); len(got) != n {
						t.Fatalf("PullN(%d) gave %d", n, len(got))
					}
				}
				deliver(t, b, "t", "b", "x")
				if got := pulled(t, b, n); !slices.Equal(got, []string{"b:x"}) {
					t.Fatalf("with b ready, pulled %q", got)
				}
			})
		}
	})
}
