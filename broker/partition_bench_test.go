package broker_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// benchPartitions is the partition count of the partitioned benchmarks.
const benchPartitions = 3

// BenchmarkDeliverPartitioned delivers one message per op, from several
// goroutines, to a queue of benchPartitions partitions: it measures how
// concurrent producers share the registry cache that routes them.
func BenchmarkDeliverPartitioned(b *testing.B) {
	backends := append(testutil.Backends(), testutil.ClusterBackend())
	for _, be := range backends {
		b.Run(be.Name, func(b *testing.B) {
			br := partitionedBenchBroker(b, be.Client(b))
			facets := facetNames(benchFacets)
			var seq atomic.Uint64
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f := facets[seq.Add(1)%benchFacets]
					if err := br.DeliverBytes(b.Context(), benchTopic, f, benchBody); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b, b.N)
		})
	}
}

// partitionedBenchBroker is benchBroker with a queue of benchPartitions
// partitions.
func partitionedBenchBroker(b *testing.B, rdb redis.UniversalClient) *broker.Broker {
	b.Helper()
	br, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(b)})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.RegisterQueue(b.Context(), benchQueueName, `^bench\.`, broker.WithPartitions(benchPartitions)); err != nil {
		b.Fatal(err)
	}
	cleanup := context.WithoutCancel(b.Context())
	b.Cleanup(func() {
		if err := br.DestroyQueue(cleanup, benchQueueName); err != nil {
			b.Error(err)
		}
	})
	return br
}
