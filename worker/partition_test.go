package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// A worker on a partitioned queue handles every message exactly once, each
// facet's messages in order, while the count of partitions changes twice
// under it; and the old partitions are deleted once drained.
func TestPartitionedQueueWorker(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, testPartitionedQueueWorker)
}

func testPartitionedQueueWorker(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := t.Context()
	b := newBroker(t, rdb, broker.Config{DrainGrace: 50 * time.Millisecond})
	if err := b.SetPartitions(ctx, "q", 3); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handled := map[string]int{}
	last := map[string]int{} // facet -> last sequence number handled
	var outOfOrder []string
	w := worker.New(b, quick(worker.Config{Concurrency: 1}))
	w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
		mu.Lock()
		defer mu.Unlock()
		var seq int
		_, _ = fmt.Sscanf(string(m.Body), "%d", &seq)
		handled[m.Facet+"/"+string(m.Body)]++
		if seq != last[m.Facet]+1 {
			outOfOrder = append(outOfOrder, fmt.Sprintf("%s: %d after %d", m.Facet, seq, last[m.Facet]))
		}
		last[m.Facet] = seq
		return nil
	})
	startWorker(t, w, b)
	const facetCount, rounds = 12, 30
	seq := 0
	send := func(n int) {
		for range n {
			seq++
			ds := make([]broker.Delivery, facetCount)
			for f := range ds {
				ds[f] = broker.Delivery{Topic: "t", Facet: fmt.Sprintf("f%d", f), Body: fmt.Append(nil, seq)}
			}
			if err := b.DeliverBatch(ctx, ds); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(rounds)
	if err := b.SetPartitions(ctx, "q", 5); err != nil {
		t.Fatal(err)
	}
	send(rounds)
	if err := b.SetPartitions(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	send(rounds)
	testutil.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == facetCount*3*rounds
	}, "every message handled")
	testutil.Eventually(t, 10*time.Second, func() bool {
		p, err := b.Partitions(ctx, "q")
		return err == nil && len(p.Draining) == 0
	}, "the old partitions dropped")
	mu.Lock()
	defer mu.Unlock()
	for k, n := range handled {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
	// One handler at a time, no failures: each facet in order.
	if len(outOfOrder) > 0 {
		t.Errorf("out of order: %v", outOfOrder)
	}
}
