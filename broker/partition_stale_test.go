package broker_test

import (
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// A producer whose registry cache predates a change of count, and which
// stays idle until the old partition is dropped, still gets its delivery
// to the current partitions (or an error): never nil with the message
// nowhere.
func TestStaleProducerAfterDrop(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		cfg := broker.Config{DrainGrace: time.Millisecond}
		for _, k := range []int{1, 3} {
			b := partitioned(t, rdb, cfg, k)
			stale := newBroker(t, rdb, broker.Config{Namespace: b.Namespace(), DrainGrace: time.Millisecond})
			const facets = 6
			for f := range facets {
				deliver(t, stale, "t", string(rune('a'+f)), "warm") // the cache routes by k
			}
			for range facets {
				ack(t, b, pull(t, b, "q"))
			}
			if err := b.SetPartitions(ctx, "q", k+1); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, waitTimeout, func() bool {
				pullNone(t, b, "q")
				return len(partitionsOf(t, b, "q").Draining) == 0
			}, "the old partitions dropped")
			for f := range facets {
				deliver(t, stale, "t", string(rune('a'+f)), "late")
			}
			got := drain(t, b, "q")
			if len(got) != facets {
				t.Fatalf("from %d partitions: pulled %v after the stale producer's %d deliveries, want them all", k, got, facets)
			}
			checkPartitions(t, rdb, b, "q")
		}
	})
}
