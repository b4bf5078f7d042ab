package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// unpausedOn returns the partitions of queue, current and draining, where
// facet is not paused.
func unpausedOn(t *testing.T, rdb redis.UniversalClient, b *broker.Broker, queue, facet string) []string {
	t.Helper()
	p := partitionsOf(t, b, queue)
	var out []string
	for _, part := range append(slices.Clone(p.Names), p.Draining...) {
		v, err := rdb.HGet(t.Context(), b.Namespace()+":{"+part+"}:prio", facet).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("HGET prio: %v", err)
		}
		if !strings.HasPrefix(v, "-") {
			out = append(out, part)
		}
	}
	return out
}

// PauseFacet calls made while SetPartitions runs, from brokers whose
// registry caches lag, each hold on every partition once they return nil.
func TestPauseFacetDuringRepartition(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		cfg := broker.Config{DrainGrace: time.Hour} // the old partitions stay: they must hold it too
		b := partitioned(t, rdb, cfg, 2)
		cfg.Namespace = b.Namespace()
		var done atomic.Bool
		var next atomic.Int64
		var paused sync.Map // facet -> true once PauseFacet returned nil
		var wg sync.WaitGroup
		for range 4 {
			p := newBroker(t, rdb, cfg)
			if _, err := p.Partitions(ctx, "q"); err != nil { // a cache from before the changes
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !done.Load() || next.Load() < 40 {
					f := fmt.Sprintf("f%d", next.Add(1))
					if err := p.PauseFacet(ctx, "q", f); err != nil {
						t.Errorf("PauseFacet(%s): %v", f, err)
						return
					}
					paused.Store(f, true)
				}
			}()
		}
		for _, k := range []int{3, 5, 4} {
			if err := b.SetPartitions(ctx, "q", k); err != nil {
				t.Errorf("SetPartitions(%d): %v", k, err)
			}
		}
		done.Store(true)
		wg.Wait()
		total, lost := 0, 0
		paused.Range(func(k, _ any) bool {
			f, _ := k.(string)
			total++
			if parts := unpausedOn(t, rdb, b, "q", f); len(parts) > 0 {
				lost++
				t.Errorf("PauseFacet(%s) returned nil, but the facet is not paused on %v", f, parts)
			}
			return true
		})
		t.Logf("%d PauseFacet calls, %d lost", total, lost)
		checkPartitions(t, rdb, b, "q")
	})
}

// PauseQueue and PauseFacet from a broker whose registry cache predates a
// change of count hold on every partition, current and draining: nothing
// of the queue, or of the facet, can be pulled.
func TestPauseWithStaleCache(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{DrainGrace: time.Hour}, 2)
		stale := newBroker(t, rdb, broker.Config{Namespace: b.Namespace()})
		if _, err := stale.Partitions(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if err := b.SetPartitions(ctx, "q", 5); err != nil {
			t.Fatal(err)
		}
		if err := stale.PauseFacet(ctx, "q", "x"); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			deliver(t, b, "t", "x", fmt.Sprint(i))
		}
		for i := range 20 {
			deliver(t, b, "t", fmt.Sprintf("f%d", i), "y")
		}
		for _, m := range drain(t, b, "q") {
			if strings.HasPrefix(m, "x:") {
				t.Fatalf("pulled %s of the paused facet", m)
			}
		}
		if parts := unpausedOn(t, rdb, b, "q", "x"); len(parts) > 0 {
			t.Fatalf("facet x not paused on %v", parts)
		}
		if err := b.SetPartitions(ctx, "q", 3); err != nil {
			t.Fatal(err)
		}
		if err := stale.PauseQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			deliver(t, b, "t", fmt.Sprintf("g%d", i), "z")
		}
		pullNone(t, b, "q")
		if err := stale.ResumeQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if got := drain(t, b, "q"); len(got) != 40 {
			t.Fatalf("pulled %d after ResumeQueue, want 40", len(got))
		}
		checkPartitions(t, rdb, b, "q")
	})
}

// Calls that change a queue's messages or its registration reach every
// partition, also those of a change that a broker whose cache is a moment
// old has not seen.
func TestStaleCacheReachesEveryPartition(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		for _, op := range []string{"PurgeAllDead", "RequeueAllDead", "DestroyQueue"} {
			t.Run(op, func(t *testing.T) {
				fresh := partitioned(t, rdb, broker.Config{}, 2)
				stale := newBroker(t, rdb, broker.Config{Namespace: fresh.Namespace()})
				_ = stats(t, stale, "q") // its cache now holds 2 partitions
				if err := fresh.SetPartitions(ctx, "q", 3); err != nil {
					t.Fatal(err)
				}
				for i := range 6 {
					deliver(t, fresh, "t", fmt.Sprint("f", i), fmt.Sprint(i))
					if err := fresh.Kill(ctx, eventuallyPull(t, fresh, "q"), "test"); err != nil {
						t.Fatal(err)
					}
				}
				var err error
				var n int
				switch op {
				case "PurgeAllDead":
					n, err = stale.PurgeAllDead(ctx, "q")
				case "RequeueAllDead":
					n, err = stale.RequeueAllDead(ctx, "q")
				case "DestroyQueue":
					n, err = 6, stale.DestroyQueue(ctx, "q")
				}
				if err != nil || n != 6 {
					t.Fatalf("%s from a stale broker = %d, %v; want 6, nil", op, n, err)
				}
				switch op {
				case "DestroyQueue":
					if left := keysKept(t, rdb, fresh.Namespace()+":{q*"); len(left) > 0 {
						t.Fatalf("DestroyQueue from a stale broker left %v", left)
					}
				default:
					if s := stats(t, fresh, "q"); s.Dead != 0 {
						t.Fatalf("%s from a stale broker left %d dead letters", op, s.Dead)
					}
				}
			})
		}
	})
}
