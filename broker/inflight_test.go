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

func setLimit(t *testing.T, b *broker.Broker, n int) {
	t.Helper()
	if err := b.SetInflightLimit(t.Context(), "q", n); err != nil {
		t.Fatalf("SetInflightLimit(%d): %v", n, err)
	}
}

// A facet at its limit gets its next turn when one of its leases ends.
func TestInflightLimitFreedBy(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := []struct {
			name string
			free func(t *testing.T, b *broker.Broker, m *broker.Message)
			want []string // what the facet gives next, until it is at its limit
		}{
			{"Ack", func(t *testing.T, b *broker.Broker, m *broker.Message) { ack(t, b, m) }, []string{"a:2"}},
			{"Nack", func(t *testing.T, b *broker.Broker, m *broker.Message) {
				if err := b.Nack(t.Context(), m, 0); err != nil {
					t.Fatal(err)
				}
			}, []string{"a:2"}},
			{"Nack with delay", func(t *testing.T, b *broker.Broker, m *broker.Message) {
				if err := b.Nack(t.Context(), m, time.Hour); err != nil {
					t.Fatal(err)
				}
			}, []string{"a:2"}},
			{"Release", func(t *testing.T, b *broker.Broker, m *broker.Message) {
				if err := b.Release(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}, []string{"a:0"}},
			{"lease expiry", func(t *testing.T, b *broker.Broker, m *broker.Message) {
				waitRedisPast(t, b.Client(), m.LeaseDeadline) // both leases end
			}, []string{"a:0", "a:1"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				setLimit(t, b, 2)
				deliverN(t, b, "a", 4)
				lease := time.Minute
				if tc.name == "lease expiry" {
					lease = shortLease
				}
				ms := pullLease(t, b, 10, lease)
				if len(ms) != 2 {
					t.Fatalf("PullWith(10) = %d messages; want the limit, 2", len(ms))
				}
				pullNone(t, b, "q")
				if s := stats(t, b, "q"); s.InFlight != 2 || s.Ready != 2 || s.InflightLimit != 2 {
					t.Fatalf("Stats = %+v", s)
				}
				tc.free(t, b, ms[0])
				if got := pulled(t, b, 10); !slices.Equal(got, tc.want) {
					t.Fatalf("then pulled %q, want %q", got, tc.want)
				}
			})
		}
	})
}

func TestInflightLimitPullN(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		setLimit(t, b, 2)
		for _, f := range []string{"a", "b", "c"} {
			deliverN(t, b, f, 10)
		}
		ms, err := b.PullN(t.Context(), "q", 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Facet)
		}
		if want := []string{"a", "b", "c", "a", "b", "c"}; !slices.Equal(got, want) {
			t.Fatalf("PullN(10) facets %q, want %q", got, want)
		}
		if more, err := b.PullN(t.Context(), "q", 10); err != nil || len(more) != 0 {
			t.Fatalf("PullN at the limit = %d messages, %v", len(more), err)
		}
		for _, f := range []string{"a", "b", "c"} {
			if fs, err := b.Facet(t.Context(), "q", f); err != nil || fs.InFlight != 2 || fs.Ready != 8 {
				t.Fatalf("Facet(%s) = %+v, %v", f, fs, err)
			}
		}
	})
}

func TestInflightNoLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := map[string]func(t *testing.T, b *broker.Broker){
			"default":      func(*testing.T, *broker.Broker) {},
			"set to 0":     func(t *testing.T, b *broker.Broker) { setLimit(t, b, 3); setLimit(t, b, 0) },
			"raised to 20": func(t *testing.T, b *broker.Broker) { setLimit(t, b, 3); setLimit(t, b, 20) },
		}
		for name, setup := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				setup(t, b)
				deliverN(t, b, "a", 12)
				ms, err := b.PullN(t.Context(), "q", 20)
				if err != nil || len(ms) != 12 {
					t.Fatalf("PullN = %d messages, %v; want all 12", len(ms), err)
				}
			})
		}
	})
}

// Lifting the limit gives a facet held at it its turn back at once.
func TestInflightLimitLifted(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, limit := range []int{0, 3} {
			t.Run(map[int]string{0: "removed", 3: "raised"}[limit], func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				setLimit(t, b, 2)
				deliverN(t, b, "a", 5)
				deliverN(t, b, "b", 1)
				if got := facets(pulled(t, b, 10)); !slices.Equal(got, []string{"a", "b", "a"}) {
					t.Fatalf("with limit 2, pulled %q", got)
				}
				setLimit(t, b, limit)
				want := 3
				if limit == 3 {
					want = 1
				}
				if got := pulled(t, b, 10); len(got) != want {
					t.Fatalf("after SetInflightLimit(%d), pulled %q; want %d messages", limit, got, want)
				}
			})
		}
	})
}

// pulled is PullN(n) as "facet:body" strings.
func pulled(t *testing.T, b *broker.Broker, n int) []string {
	t.Helper()
	ms, err := b.PullN(t.Context(), "q", n)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Facet+":"+string(m.Body))
	}
	return out
}

func TestInflightUnknownQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		if err := b.SetInflightLimit(t.Context(), "nope", 2); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Fatalf("got %v, want ErrUnknownQueue", err)
		}
		if ks := keys(t, rdb, b.Namespace()+":*"); len(ks) != 0 {
			t.Fatalf("wrote %q", ks)
		}
	})
}

// TestInflightLimitLoweredLeavesNoWorkHidden lowers the limit under many
// facets that hold turns: those turns are stale now, more of them than one
// pull script skips, and the work behind them must still be found.
func TestInflightLimitLoweredLeavesNoWorkHidden(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		setLimit(t, b, 2)
		ds := make([]broker.Delivery, 0, 600)
		for i := range 300 {
			for range 2 {
				ds = append(ds, broker.Delivery{Topic: "t", Facet: fmt.Sprintf("f%03d", i), Body: []byte("x")})
			}
		}
		if err := b.DeliverBatch(t.Context(), ds); err != nil {
			t.Fatal(err)
		}
		if ms, err := b.PullN(t.Context(), "q", 300); err != nil || len(ms) != 300 {
			t.Fatalf("PullN(300) = %d messages, %v", len(ms), err)
		}
		setLimit(t, b, 1) // every facet is at the limit, its turn still in the ring
		deliver(t, b, "t", "new", "fresh")
		if m := pull(t, b, "q"); m.Facet != "new" {
			t.Fatalf("pulled facet %q, want %q", m.Facet, "new")
		}
	})
}
