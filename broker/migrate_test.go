package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// writeLayout1 leaves queue q as a release before 0.2.0 left it: a message
// "retried" ready after one failed delivery (its attempts in the att hash),
// a message "held" leased (a bare ID in leased, its token and facet in the
// lease hash, its attempts in att) until lease from now, and in-flight
// counts though the queue has no limit. It returns the held message.
func writeLayout1(t *testing.T, rdb redis.UniversalClient, b *broker.Broker, lease time.Duration) *broker.Message {
	t.Helper()
	ctx := t.Context()
	deliver(t, b, "t", "f", "retried", broker.WithMaxAttempts(3))
	nack(t, b, pull(t, b, "q"), 0)
	deliver(t, b, "t", "g", "held", broker.WithMaxAttempts(2))
	ms, err := leaseN(ctx, b, "q", 2, lease)
	if err != nil || len(ms) != 2 {
		t.Fatalf("pull: %v, %v", ms, err)
	}
	var held, retried *broker.Message
	for _, m := range ms {
		if string(m.Body) == "held" {
			held = m
		} else {
			retried = m
		}
	}
	if err := b.Release(ctx, retried); err != nil {
		t.Fatal(err)
	}
	member := broker.LeaseMember(held)
	deadline, err := rdb.ZScore(ctx, qkey(b, "q", "leased"), member).Result()
	if err != nil {
		t.Fatal(err)
	}
	token := member[len(held.ID)+1:]
	token = token[:len(token)-len("|1|g")]
	err = errors.Join(
		rdb.ZRem(ctx, qkey(b, "q", "leased"), member).Err(),
		rdb.ZAdd(ctx, qkey(b, "q", "leased"), redis.Z{Score: deadline, Member: held.ID}).Err(),
		rdb.HSet(ctx, qkey(b, "q", "lease"), held.ID, token+"|g").Err(),
		rdb.HSet(ctx, qkey(b, "q", "att"), held.ID, 1, retried.ID, 1).Err(),
		rdb.HDel(ctx, qkey(b, "q", "msgs"), "@"+retried.ID).Err(),
		rdb.HDel(ctx, qkey(b, "q", "cfg"), "retried").Err(),
		rdb.HSet(ctx, qkey(b, "q", "inflight"), "g", 1).Err(),
	)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// A queue of layout 1 is moved to this layout, ahead by MigrateLayout or on
// first use by a pull: no attempt is forgotten (a retried message keeps its
// count, a leased one its lease until it expires), and the queue keeps
// every invariant of this layout.
func TestMigrateLayout(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, ahead := range []bool{true, false} {
			ctx := t.Context()
			b := newQueue(t, rdb, broker.Config{})
			held := writeLayout1(t, rdb, b, 300*time.Millisecond)
			if err := testutil.CheckQueue(ctx, rdb, b.Namespace(), "q"); err == nil {
				t.Fatal("the layout 1 fixture passes this layout's invariants")
			}
			if ahead {
				for range 2 { // again: nothing more to do
					if err := b.MigrateLayout(ctx, "q"); err != nil {
						t.Fatal(err)
					}
				}
				checkInvariants(t, b, "q")
				if next, err := b.Peek(ctx, "q", 1); err != nil || len(next) != 1 || next[0].Attempt != 2 {
					t.Fatalf("ahead: Peek = %v, %v; want the retried message at attempt 2", next, err)
				}
			}
			m := pull(t, b, "q")
			if string(m.Body) != "retried" || m.Attempt != 2 || m.MaxAttempts != 3 {
				t.Fatalf("ahead %v: pulled %v (budget %d), want retried at attempt 2 of 3", ahead, m, m.MaxAttempts)
			}
			ack(t, b, m)
			checkInvariants(t, b, "q")
			// The held lease runs to its end, then its message comes back at
			// its second and last attempt.
			waitRedisPast(t, rdb, held.LeaseDeadline)
			m = pull(t, b, "q")
			if string(m.Body) != "held" || m.Attempt != 2 {
				t.Fatalf("ahead %v: pulled %v, want held at attempt 2", ahead, m)
			}
			nack(t, b, m, 0)
			if st := stats(t, b, "q"); st.Dead != 1 || st.Ready+st.InFlight+st.Delayed != 0 {
				t.Fatalf("ahead %v: %+v; want held dead after its 2 attempts", ahead, st)
			}
			checkInvariants(t, b, "q")
		}
	})
}

// MigrateLayout refuses a bad or unknown queue and changes nothing.
func TestMigrateLayoutRefused(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		if err := b.MigrateLayout(t.Context(), "no such"); !errors.Is(err, broker.ErrInvalidQueueName) {
			t.Errorf("bad name: %v", err)
		}
		if err := b.MigrateLayout(t.Context(), "nosuch"); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Errorf("unknown queue: %v", err)
		}
		if err := b.MigrateLayout(context.Background(), "q"); err != nil {
			t.Errorf("a queue of this layout: %v", err)
		}
	})
}

// A queue of layout 1 counts ready messages per facet in the backlog zset:
// MigrateLayout, or the first pull, turns it into the active set and the
// deep ranking, read from the facets' lists (writes since the upgrade no
// longer count in backlog), and drops entries of drained facets.
func TestMigrateLayoutBacklog(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, ahead := range []bool{true, false} {
			ctx := t.Context()
			b := newQueue(t, rdb, broker.Config{})
			for i := range 70 {
				deliver(t, b, "t", "h", fmt.Sprint("h", i))
			}
			deliver(t, b, "t", "f", "f0")
			err := errors.Join(
				rdb.Del(ctx, qkey(b, "q", "active"), qkey(b, "q", "deep")).Err(),
				rdb.ZAdd(ctx, qkey(b, "q", "backlog"), redis.Z{Score: 70, Member: "h"},
					redis.Z{Score: 1, Member: "f"}, redis.Z{Score: 3, Member: "gone"}).Err(),
			)
			if err != nil {
				t.Fatal(err)
			}
			if err := testutil.CheckQueue(ctx, rdb, b.Namespace(), "q"); err == nil {
				t.Fatal("the layout 1 backlog passes this layout's invariants")
			}
			// Written before the migration: counted in neither.
			deliver(t, b, "t", "h", "h70")
			if ahead {
				if err := b.MigrateLayout(ctx, "q"); err != nil {
					t.Fatal(err)
				}
				checkInvariants(t, b, "q")
			}
			m := pull(t, b, "q")
			ack(t, b, m)
			checkInvariants(t, b, "q")
			if st := stats(t, b, "q"); st.Facets != 2 || st.Ready != 71 {
				t.Fatalf("ahead %v: %+v; want 71 ready in 2 facets", ahead, st)
			}
			top, err := b.TopFacets(ctx, "q", 1)
			if err != nil || len(top) != 1 || top[0].Facet != "h" || top[0].Ready < 70 {
				t.Fatalf("ahead %v: TopFacets = %+v, %v; want h first", ahead, top, err)
			}
		}
	})
}
