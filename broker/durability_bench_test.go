package broker_test

import (
	"fmt"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// BenchmarkReplicaAcks measures what Config.ReplicaAcks costs: Deliver
// (one goroutine, then several) and Ack (one goroutine, of messages
// pulled beforehand), without WAIT and with WAIT 1, on a primary with one
// replica on loopback. docs/failover.md has the numbers.
func BenchmarkReplicaAcks(b *testing.B) {
	primary, _ := testutil.StartReplicatedT(b)
	rdb := primary.Client()
	b.Cleanup(func() { _ = rdb.Close() })
	for _, acks := range []int{0, 1} {
		name := fmt.Sprintf("replicas=%d", acks)
		b.Run("Deliver/"+name, func(b *testing.B) {
			br := replicaBroker(b, rdb, acks)
			facets := facetNames(benchFacets)
			for i := 0; b.Loop(); i++ {
				if err := br.DeliverBytes(b.Context(), benchTopic, facets[i%benchFacets], benchBody); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, b.N)
		})
		b.Run("DeliverParallel/"+name, func(b *testing.B) {
			deliverParallel(b, replicaBroker(b, rdb, acks))
		})
		b.Run("Ack/"+name, func(b *testing.B) {
			br := replicaBroker(b, rdb, acks)
			prefill(b, br, b.N, facetNames(benchFacets))
			var ms []*broker.Message
			for len(ms) < b.N {
				got, err := br.PullN(b.Context(), benchQueueName, min(b.N-len(ms), broker.MaxPullBatch))
				if err != nil || len(got) == 0 {
					b.Fatalf("PullN = %d messages, %v", len(got), err)
				}
				ms = append(ms, got...)
			}
			b.ResetTimer()
			for _, m := range ms {
				if err := br.Ack(b.Context(), m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b, b.N)
		})
	}
}

// replicaBroker is benchBroker with Config.ReplicaAcks set to acks.
func replicaBroker(b *testing.B, rdb redis.UniversalClient, acks int) *broker.Broker {
	b.Helper()
	br, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(b), ReplicaAcks: acks})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.RegisterQueue(b.Context(), benchQueueName, `^bench\.`); err != nil {
		b.Fatal(err)
	}
	return br
}
