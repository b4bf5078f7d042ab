package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// DeadLetterCap holds for a partitioned queue as a whole, through changes
// of count, and a retired partition's dead letters move to the current
// partitions so that it is dropped: the queue ends with at most the cap
// and no partition draining.
func TestDeadLetterCapPerQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		const capacity = 20
		b := partitioned(t, rdb, broker.Config{DeadLetterCap: capacity, DrainGrace: time.Millisecond}, 3)
		seq := 0
		for _, k := range []int{2, 5, 4, 1, 3} {
			for range 30 {
				deliver(t, b, "t", fmt.Sprintf("f%d", seq%7), fmt.Sprint(seq))
				seq++
			}
			for range 30 {
				if err := b.Kill(ctx, eventuallyPull(t, b, "q"), "test"); err != nil {
					t.Fatal(err)
				}
			}
			if s := stats(t, b, "q"); s.Dead > capacity {
				t.Fatalf("%d dead letters in %d partitions, over the cap of %d", s.Dead, partitionsOf(t, b, "q").Count, capacity)
			}
			if err := b.SetPartitions(ctx, "q", k); err != nil {
				t.Fatal(err)
			}
		}
		testutil.Eventually(t, waitTimeout, func() bool {
			pullNone(t, b, "q")
			return len(partitionsOf(t, b, "q").Draining) == 0
		}, "the retired partitions, with their dead letters, dropped")
		// Each partition keeps its share of the cap: the queue at most the
		// cap, fewer where the facets of some partition had fewer deaths.
		s := stats(t, b, "q")
		if s.Dead > capacity || s.Dead < capacity/2 {
			t.Fatalf("%d dead letters, want at most the cap, %d, and most of it kept", s.Dead, capacity)
		}
		dead, err := b.DeadLetters(ctx, "q", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dead {
			if d.Error != "test" || len(d.Body) == 0 {
				t.Fatalf("dead letter %+v lost its reason or body in the move", d)
			}
		}
		if len(dead) != int(s.Dead) {
			t.Fatalf("DeadLetters listed %d, Stats says %d", len(dead), s.Dead)
		}
		if n, err := b.RequeueAllDead(ctx, "q"); err != nil || n != len(dead) {
			t.Fatalf("RequeueAllDead = %d, %v; want %d", n, err, len(dead))
		}
		if got := drain(t, b, "q"); len(got) != len(dead) {
			t.Fatalf("drained %d after requeue, want %d", len(got), len(dead))
		}
		checkPartitions(t, rdb, b, "q")
	})
}

// A dead letter requeued in a retired partition while it moves to the
// current one ends in one place: ready where the requeue put it, not also
// a dead letter in the new partition.
func TestDeadLetterRequeuedWhileMoving(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	other := newQueue(t, testutil.RealRedis(t), broker.Config{})
	rdb := newClient(t, testutil.RealRedis(t))
	b := newBroker(t, rdb, broker.Config{Namespace: other.Namespace(), DrainGrace: time.Millisecond})
	deliver(t, b, "t", "f", "x")
	if err := b.Kill(ctx, pull(t, b, "q"), "test"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPartitions(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	// dead_move.lua's ARGV: wake channel, replay window, op, ...
	rdb.AddHook(&beforeScript{match: func(_, argv []any) bool { return len(argv) > 2 && argv[2] == "import" }, before: func() {
		if n, err := other.RequeueAllDead(ctx, "q"); err != nil || n != 1 {
			t.Errorf("RequeueAllDead = %d, %v", n, err)
		}
	}})
	m := eventuallyPull(t, b, "q") // the requeued one, from the old partition
	ack(t, b, m)
	testutil.Eventually(t, waitTimeout, func() bool {
		pullNone(t, b, "q")
		return len(partitionsOf(t, b, "q").Draining) == 0
	}, "the old partition dropped")
	wantStats(t, b, "q", broker.QueueStats{Routed: true})
	checkPartitions(t, rdb, b, "q")
}
