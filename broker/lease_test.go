package broker_test

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// shortLease is the lease of tests that wait for one to expire.
const shortLease = 200 * time.Millisecond

func pullLease(t *testing.T, b *broker.Broker, n int, lease time.Duration) []*broker.Message {
	t.Helper()
	ms, err := leaseN(t.Context(), b, "q", n, lease)
	if err != nil {
		t.Fatalf("PullWith(%d, %v): %v", n, lease, err)
	}
	return ms
}

func TestLeaseDuration(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := []struct {
			name string
			cfg  time.Duration
			pull func(b *broker.Broker) (*broker.Message, error)
			want time.Duration
		}{
			{"default", 0, func(b *broker.Broker) (*broker.Message, error) { return b.Pull(t.Context(), "q") }, 30 * time.Second},
			{"Config.LeaseDuration", 2 * time.Minute, func(b *broker.Broker) (*broker.Message, error) {
				return b.Pull(t.Context(), "q")
			}, 2 * time.Minute},
			{"PullWith", 2 * time.Minute, func(b *broker.Broker) (*broker.Message, error) {
				ms, err := leaseN(t.Context(), b, "q", 1, 5*time.Second)
				if len(ms) == 0 {
					return nil, err
				}
				return ms[0], err
			}, 5 * time.Second},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{LeaseDuration: tc.cfg})
				deliver(t, b, "t", "f", "x")
				before := redisNow(t, rdb)
				m, err := tc.pull(b)
				if err != nil || m == nil {
					t.Fatalf("pull: %v, %v", m, err)
				}
				after := redisNow(t, rdb)
				if m.LeaseDeadline.Before(before.Add(tc.want).Add(-time.Millisecond)) || m.LeaseDeadline.After(after.Add(tc.want)) {
					t.Fatalf("LeaseDeadline %v, want %v after the pull (%v)", m.LeaseDeadline, tc.want, before)
				}
			})
		}
	})
}

func TestAckRemoves(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{LeaseDuration: shortLease})
		deliver(t, b, "t", "f", "x")
		m := pull(t, b, "q")
		ack(t, b, m)
		ack(t, b, m) // a second ack is harmless
		if err := b.AckMany(t.Context(), []*broker.Message{m, m}); err != nil {
			t.Fatalf("AckMany of acked messages: %v", err)
		}
		wantStats(t, b, "q", broker.QueueStats{Routed: true})
		waitRedisPast(t, rdb, m.LeaseDeadline)
		pullNone(t, b, "q")
		if n := hlen(t, b, "q", "msgs"); n != 0 {
			t.Fatalf("%d bodies left after the ack", n)
		}
	})
}

func TestExtend(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliver(t, b, "t", "f", "x")
		m := pullLease(t, b, 1, shortLease)[0]
		first := m.LeaseDeadline
		if err := b.Extend(t.Context(), m, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if d := m.LeaseDeadline.Sub(first); d < 4*time.Second {
			t.Fatalf("Extend moved the deadline by %v", d)
		}
		waitRedisPast(t, rdb, first.Add(shortLease))
		pullNone(t, b, "q")
		wantStats(t, b, "q", broker.QueueStats{InFlight: 1, Routed: true})
		ack(t, b, m)
		wantStats(t, b, "q", broker.QueueStats{Routed: true})
	})
}

// An expired lease puts the message back at the head of its facet, and the
// order of a facet survives several leases expiring together.
func TestLeaseExpiry(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, n := range []int{1, 3} {
			t.Run(map[int]string{1: "one", 3: "several"}[n], func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				deliverN(t, b, "a", 5)
				leased := pullLease(t, b, n, shortLease)
				if len(leased) != n {
					t.Fatalf("leased %d, want %d", len(leased), n)
				}
				waitRedisPast(t, rdb, leased[0].LeaseDeadline)
				var got []*broker.Message
				for range 5 {
					got = append(got, pull(t, b, "q"))
				}
				pullNone(t, b, "q")
				for i, m := range got {
					wantAttempt := 1
					if i < n {
						wantAttempt = 2
						if m.ID != leased[i].ID {
							t.Errorf("pull %d: %s, want the expired %s", i, m.ID, leased[i].ID)
						}
					}
					if string(m.Body) != string(rune('0'+i)) || m.Attempt != wantAttempt {
						t.Errorf("pull %d: body %q, attempt %d; want %d, %d", i, m.Body, m.Attempt, i, wantAttempt)
					}
				}
			})
		}
	})
}

// A holder whose lease expired can change nothing once the message went
// back to its facet, whether or not someone else leased it since.
func TestLeaseLost(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		calls := map[string]func(b *broker.Broker, m *broker.Message) error{
			"Ack":     func(b *broker.Broker, m *broker.Message) error { return b.Ack(t.Context(), m) },
			"AckMany": func(b *broker.Broker, m *broker.Message) error { return b.AckMany(t.Context(), []*broker.Message{m}) },
			"Extend":  func(b *broker.Broker, m *broker.Message) error { return b.Extend(t.Context(), m, time.Minute) },
			"Nack":    func(b *broker.Broker, m *broker.Message) error { return b.Nack(t.Context(), m, 0) },
			"Release": func(b *broker.Broker, m *broker.Message) error { return b.Release(t.Context(), m) },
			"Kill":    func(b *broker.Broker, m *broker.Message) error { return b.Kill(t.Context(), m, "x") },
		}
		ops := map[string]string{"Ack": "ack", "AckMany": "ack", "Extend": "extend", "Nack": "nack", "Release": "release", "Kill": "kill"}
		for name, call := range calls {
			for _, released := range []bool{false, true} {
				t.Run(name+map[bool]string{false: " after re-lease", true: " while ready"}[released], func(t *testing.T) {
					t.Parallel()
					b := newQueue(t, rdb, broker.Config{})
					deliver(t, b, "t", "a", "x")
					if released {
						deliver(t, b, "t", "b", "other")
					}
					old := pullLease(t, b, 1, shortLease)[0]
					waitRedisPast(t, rdb, old.LeaseDeadline)
					var holder *broker.Message
					if released {
						// This pull moves the expired message back and takes b.
						if m := pull(t, b, "q"); m.Facet != "b" {
							t.Fatalf("pulled %v, want facet b", m)
						}
					} else {
						holder = pull(t, b, "q")
						if holder.ID != old.ID || holder.Attempt != 2 {
							t.Fatalf("pulled %v, want %s again", holder, old.ID)
						}
					}
					before := snapshot(t, b)
					err := call(b, old)
					if !errors.Is(err, broker.ErrLeaseLost) {
						t.Fatalf("%s by the old holder: %v, want ErrLeaseLost", name, err)
					}
					var lost *broker.LeaseLostError
					if !errors.As(err, &lost) || lost.Message != old || lost.Op != ops[name] {
						t.Fatalf("%s by the old holder: %#v, want a LeaseLostError of %s naming the message given", name, lost, ops[name])
					}
					if after := snapshot(t, b); !maps.Equal(before, after) {
						t.Fatalf("%s by the old holder changed\n%v\nto\n%v", name, before, after)
					}
					if holder == nil {
						holder = pull(t, b, "q")
					}
					ack(t, b, holder)
					if s := stats(t, b, "q"); s.Ready+s.Delayed+s.Dead != 0 {
						t.Fatalf("Stats after the new holder's ack: %+v", s)
					}
				})
			}
		}
	})
}

func TestRelease(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 4)
		ms := pullLease(t, b, 3, time.Minute)
		if err := b.Release(t.Context(), ms[2], ms[0], ms[1]); err != nil {
			t.Fatal(err)
		}
		wantStats(t, b, "q", broker.QueueStats{Ready: 4, Facets: 1, Routed: true})
		for i := range 4 {
			m := pull(t, b, "q")
			if string(m.Body) != string(rune('0'+i)) || m.Attempt != 1 {
				t.Fatalf("pull %d after Release: body %q, attempt %d", i, m.Body, m.Attempt)
			}
			if i < 3 && m.ID != ms[i].ID {
				t.Fatalf("pull %d: %s, want released %s", i, m.ID, ms[i].ID)
			}
		}
	})
}
