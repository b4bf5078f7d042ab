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

func nack(t *testing.T, b *broker.Broker, m *broker.Message, delay time.Duration, opts ...broker.NackOption) {
	t.Helper()
	if err := b.Nack(t.Context(), m, delay, opts...); err != nil {
		t.Fatalf("Nack(%v, %v): %v", m, delay, err)
	}
}

func TestNackDelay(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliver(t, b, "t", "f", "x")
		m := pull(t, b, "q")
		start := redisNow(t, rdb)
		nack(t, b, m, delay)
		pullNone(t, b, "q")
		wantStats(t, b, "q", broker.QueueStats{Delayed: 1, Routed: true})
		again := eventuallyPull(t, b, "q")
		// Redis's clock is read to the millisecond, rounded down.
		if elapsed := redisNow(t, rdb).Sub(start); elapsed < delay-time.Millisecond {
			t.Fatalf("pulled %v after the Nack, before its delay of %v", elapsed, delay)
		}
		if again.ID != m.ID || again.Attempt != 2 || string(again.Body) != "x" {
			t.Fatalf("pulled %v, want %s on attempt 2", again, m.ID)
		}
	})
}

// A Nack without delay puts the message at the tail of its facet, ready at
// once.
func TestNackNow(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 3)
		nack(t, b, pull(t, b, "q"), 0)
		wantStats(t, b, "q", broker.QueueStats{Ready: 3, Facets: 1, Routed: true})
		if got := drain(t, b, "q"); !slices.Equal(got, []string{"a:1", "a:2", "a:0"}) {
			t.Fatalf("pulled %q", got)
		}
	})
}

func TestNackMaxAttempts(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := []struct {
			name   string
			opts   []broker.NackOption
			reason string
		}{
			{"with reason", []broker.NackOption{broker.WithReason(errors.New("boom: disk full"))}, "boom: disk full"},
			{"without reason", nil, "nacked"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{MaxAttempts: 3})
				deliver(t, b, "orders.created", "acme", "payload", broker.WithHeaders(map[string]string{"h": "v"}))
				for attempt := 1; attempt <= 3; attempt++ {
					m := pull(t, b, "q")
					if m.Attempt != attempt {
						t.Fatalf("attempt %d, want %d", m.Attempt, attempt)
					}
					nack(t, b, m, 0, tc.opts...)
				}
				pullNone(t, b, "q")
				wantStats(t, b, "q", broker.QueueStats{Dead: 1, Routed: true})
				ds, err := b.DeadLetters(t.Context(), "q", 0, 10)
				if err != nil || len(ds) != 1 {
					t.Fatalf("DeadLetters = %v, %v", ds, err)
				}
				d := ds[0]
				if d.Error != tc.reason || d.Attempt != 3 || string(d.Body) != "payload" || d.Topic != "orders.created" ||
					d.Facet != "acme" || d.Queue != "q" || d.Headers["h"] != "v" {
					t.Fatalf("dead letter %+v", d)
				}
				if age := redisNow(t, rdb).Sub(d.DiedAt); age < 0 || age > 5*time.Second {
					t.Fatalf("DiedAt %v is %v ago", d.DiedAt, age)
				}
			})
		}
	})
}

// A lease that expires on the last attempt dead-letters the message too.
func TestLeaseExpiryOnLastAttempt(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{MaxAttempts: 1})
		deliver(t, b, "t", "f", "x")
		m := pullLease(t, b, 1, shortLease)[0]
		waitRedisPast(t, rdb, m.LeaseDeadline)
		pullNone(t, b, "q")
		wantStats(t, b, "q", broker.QueueStats{Dead: 1, Routed: true})
		if ds, _ := b.DeadLetters(t.Context(), "q", 0, 1); len(ds) != 1 || ds[0].Error != "lease expired on attempt 1" {
			t.Fatalf("DeadLetters = %+v", ds)
		}
	})
}

func TestKill(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 2)
		m := pull(t, b, "q")
		if err := b.Kill(t.Context(), m, "poison"); err != nil {
			t.Fatal(err)
		}
		wantStats(t, b, "q", broker.QueueStats{Ready: 1, Dead: 1, Facets: 1, Routed: true})
		ds, err := b.DeadLetters(t.Context(), "q", 0, 10)
		if err != nil || len(ds) != 1 || ds[0].ID != m.ID || ds[0].Error != "poison" || ds[0].Attempt != 1 {
			t.Fatalf("DeadLetters = %+v, %v", ds, err)
		}
		if err := b.Ack(t.Context(), m); !errors.Is(err, broker.ErrLeaseLost) {
			t.Fatalf("Ack of a dead letter: %v, want ErrLeaseLost", err)
		}
		wantStats(t, b, "q", broker.QueueStats{Ready: 1, Dead: 1, Facets: 1, Routed: true})
	})
}
