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

// killAll delivers n messages to facet f (bodies "0", "1", ...) and kills
// each, one per millisecond of Redis's clock so that their times of death
// order them. It returns their IDs, oldest first.
func killAll(t *testing.T, b *broker.Broker, n int) []string {
	t.Helper()
	deliverN(t, b, "f", n)
	var ids []string
	for i := range n {
		m := pull(t, b, "q")
		if err := b.Kill(t.Context(), m, fmt.Sprint("reason ", i)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		now := redisNow(t, b.Client())
		waitRedisPast(t, b.Client(), time.UnixMilli(now.UnixMilli()+1))
	}
	return ids
}

func deadBodies(t *testing.T, b *broker.Broker, offset, limit int) []string {
	t.Helper()
	ds, err := b.DeadLetters(t.Context(), "q", offset, limit)
	if err != nil {
		t.Fatalf("DeadLetters(%d, %d): %v", offset, limit, err)
	}
	var out []string
	for _, d := range ds {
		if d.Error != "reason "+string(d.Body) {
			t.Fatalf("dead letter %q has error %q", d.Body, d.Error)
		}
		out = append(out, string(d.Body))
	}
	return out
}

func TestDeadLettersList(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		killAll(t, b, 5)
		tests := []struct {
			offset, limit int
			want          []string
		}{
			{0, 10, []string{"0", "1", "2", "3", "4"}},
			{0, 2, []string{"0", "1"}},
			{1, 2, []string{"1", "2"}},
			{4, 10, []string{"4"}},
			{5, 10, nil},
		}
		for _, tc := range tests {
			if got := deadBodies(t, b, tc.offset, tc.limit); !slices.Equal(got, tc.want) {
				t.Errorf("DeadLetters(%d, %d) = %q, want %q", tc.offset, tc.limit, got, tc.want)
			}
		}
	})
}

func TestDeadLettersRequeue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := []struct {
			name    string
			requeue func(b *broker.Broker, ids []string) (int, error)
			n       int
			want    []string // pulled after requeueing
			dead    []string // still dead
		}{
			{"by ID", func(b *broker.Broker, ids []string) (int, error) {
				return b.RequeueDead(t.Context(), "q", ids[3], ids[1], "not-an-id", ids[1])
			}, 2, []string{"f:3", "f:1"}, []string{"0", "2"}},
			{"all", func(b *broker.Broker, _ []string) (int, error) {
				return b.RequeueAllDead(t.Context(), "q")
			}, 4, []string{"f:0", "f:1", "f:2", "f:3"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{MaxAttempts: 2})
				ids := killAll(t, b, 4)
				n, err := tc.requeue(b, ids)
				if err != nil || n != tc.n {
					t.Fatalf("requeued %d, %v; want %d", n, err, tc.n)
				}
				var got []string
				for range tc.n {
					m := pull(t, b, "q")
					if m.Attempt != 1 {
						t.Fatalf("requeued %v has attempt %d, want 1", m, m.Attempt)
					}
					got = append(got, m.Facet+":"+string(m.Body))
					// With attempts reset, one failure does not kill it again.
					nack(t, b, m, 0)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("pulled %q, want %q", got, tc.want)
				}
				if got := deadBodies(t, b, 0, 10); !slices.Equal(got, tc.dead) {
					t.Fatalf("dead letters %q, want %q", got, tc.dead)
				}
				wantStats(t, b, "q", broker.QueueStats{Ready: int64(tc.n), Dead: int64(len(tc.dead)), Facets: 1, Routed: true})
			})
		}
	})
}

func TestDeadLettersPurge(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		ids := killAll(t, b, 4)
		n, err := b.PurgeDead(t.Context(), "q", ids[0], ids[2], "not-an-id")
		if err != nil || n != 2 {
			t.Fatalf("PurgeDead = %d, %v; want 2", n, err)
		}
		if got := deadBodies(t, b, 0, 10); !slices.Equal(got, []string{"1", "3"}) {
			t.Fatalf("dead letters after PurgeDead: %q", got)
		}
		if n := hlen(t, b, "q", "msgs"); n != 2 {
			t.Fatalf("%d bodies after PurgeDead, want 2", n)
		}
		if n, err := b.PurgeAllDead(t.Context(), "q"); err != nil || n != 2 {
			t.Fatalf("PurgeAllDead = %d, %v; want 2", n, err)
		}
		wantStats(t, b, "q", broker.QueueStats{Routed: true})
		for _, kind := range []string{"msgs", "msgs@", "deaderr"} {
			if n := hlen(t, b, "q", kind); n != 0 {
				t.Errorf("%d fields left in %s", n, kind)
			}
		}
		if n, err := b.RequeueAllDead(t.Context(), "q"); err != nil || n != 0 {
			t.Fatalf("RequeueAllDead of none = %d, %v", n, err)
		}
	})
}

// The oldest dead letters beyond the cap are deleted with their bodies.
func TestDeadLetterCap(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{DeadLetterCap: 3, MaxAttempts: 1})
		killAll(t, b, 4)
		deliver(t, b, "t", "f", "4")
		m := pull(t, b, "q")
		nack(t, b, m, 0, broker.WithReason(errors.New("reason 4"))) // dead by attempts
		wantStats(t, b, "q", broker.QueueStats{Dead: 3, Routed: true})
		if got := deadBodies(t, b, 0, 10); !slices.Equal(got, []string{"2", "3", "4"}) {
			t.Fatalf("dead letters %q, want the newest 3", got)
		}
		for _, kind := range []string{"msgs", "msgs@", "deaderr"} {
			if n := hlen(t, b, "q", kind); n != 3 {
				t.Errorf("%s has %d fields, want 3: trimming must delete them", kind, n)
			}
		}
	})
}

func TestDeadLettersUnknownQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		if _, err := b.RequeueDead(t.Context(), "nope", "x"); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Errorf("RequeueDead: %v, want ErrUnknownQueue", err)
		}
		if ds, err := b.DeadLetters(t.Context(), "nope", 0, 10); err != nil || len(ds) != 0 {
			t.Errorf("DeadLetters = %v, %v", ds, err)
		}
		if ks := keys(t, rdb, b.Namespace()+":*"); len(ks) != 0 {
			t.Fatalf("wrote %q", ks)
		}
	})
}
