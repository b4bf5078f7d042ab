package broker_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// The benchmarks run against a real redis-server (skipped when there is
// none) and measure whole round trips: client, network and Lua together.
// Run them with `make bench`.

const (
	benchQueueName = "bench"
	benchTopic     = "bench.job"
	// benchFacets is how many facets the throughput benchmarks spread
	// messages over.
	benchFacets = 100
	// benchBatch is the batch size of the batched benchmarks.
	benchBatch = 100
	// benchParallelism times GOMAXPROCS goroutines run the parallel
	// benchmarks, enough to keep Redis busy while others wait on the network.
	benchParallelism = 4
	// prefillChunk is how many messages one DeliverBatch of a prefill sends.
	prefillChunk = 1000
)

// benchBody is a 100-byte message body.
var benchBody = []byte(strings.Repeat("x", 100))

// benchBroker returns a broker on the shared real server, under a namespace
// of its own, with a queue registered for benchTopic and destroyed when b
// ends.
func benchBroker(b *testing.B, rdb redis.UniversalClient) *broker.Broker {
	b.Helper()
	br, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(b)})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.RegisterQueue(b.Context(), benchQueueName, `^bench\.`); err != nil {
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

// facetNames returns n distinct facet names.
func facetNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "tenant-" + strconv.Itoa(i)
	}
	return out
}

// prefill delivers n messages, spread round-robin over facets, in batches.
func prefill(b *testing.B, br *broker.Broker, n int, facets []string) {
	b.Helper()
	batch := make([]broker.Delivery, 0, prefillChunk)
	for i := range n {
		batch = append(batch, broker.Delivery{Topic: benchTopic, Facet: facets[i%len(facets)], Body: benchBody})
		if len(batch) == prefillChunk || i == n-1 {
			if err := br.DeliverBatch(b.Context(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// reportRate reports msgs messages over the timed part of the run.
func reportRate(b *testing.B, msgs int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(msgs)/s, "msgs/s")
	}
}

// reportScriptTime reads Redis's time in scripts (INFO commandstats, EVAL
// and EVALSHA) now, and returns a func that reports the time spent since per
// message as "redis-us/msg": the server's share of the cost, which the
// client and the network do not blur. Call it untimed; nothing else may use
// the server meanwhile.
func reportScriptTime(b *testing.B, rdb redis.UniversalClient, msgs int) func() {
	b.Helper()
	start := scriptMicros(b, rdb)
	return func() {
		b.ReportMetric(float64(scriptMicros(b, rdb)-start)/float64(msgs), "redis-us/msg")
	}
}

// scriptMicros is the microseconds Redis has spent running scripts.
func scriptMicros(b *testing.B, rdb redis.UniversalClient) int64 {
	b.Helper()
	stats := redisInfo(b, rdb, "commandstats")
	var total int64
	for _, cmd := range []string{"cmdstat_eval", "cmdstat_evalsha"} {
		// "calls=3,usec=120,usec_per_call=40.00,..."
		for field := range strings.SplitSeq(stats[cmd], ",") {
			if v, ok := strings.CutPrefix(field, "usec="); ok {
				total += parseInt(b, v)
			}
		}
	}
	return total
}

// redisInfo returns the "name:value" lines of an INFO section.
func redisInfo(b *testing.B, rdb redis.UniversalClient, section string) map[string]string {
	b.Helper()
	info, err := rdb.Info(b.Context(), section).Result()
	if err != nil {
		b.Fatal(err)
	}
	out := make(map[string]string)
	for line := range strings.Lines(info) {
		if name, value, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[name] = value
		}
	}
	return out
}

func parseInt(b *testing.B, s string) int64 {
	b.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkDeliver delivers one message per op from several goroutines.
func BenchmarkDeliver(b *testing.B) {
	deliverParallel(b, benchBroker(b, testutil.RealRedis(b)))
}

// deliverParallel delivers one message per op from benchParallelism
// goroutines per CPU, over benchFacets facets, and reports the rate.
func deliverParallel(b *testing.B, br *broker.Broker) {
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
}

// BenchmarkDeliverBatch delivers a batch of 100 messages per op.
func BenchmarkDeliverBatch(b *testing.B) {
	br := benchBroker(b, testutil.RealRedis(b))
	facets := facetNames(benchFacets)
	batch := make([]broker.Delivery, benchBatch)
	for i := range batch {
		batch[i] = broker.Delivery{Topic: benchTopic, Facet: facets[i%benchFacets], Body: benchBody}
	}
	b.ResetTimer()
	for range b.N {
		if err := br.DeliverBatch(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N*benchBatch)
}

// BenchmarkPullAck pulls and acks one message at a time per op, from
// several goroutines, out of a queue prefilled with b.N messages.
func BenchmarkPullAck(b *testing.B) {
	rdb := testutil.RealRedis(b)
	br := benchBroker(b, rdb)
	prefill(b, br, b.N, facetNames(benchFacets))
	done := reportScriptTime(b, rdb, b.N)
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := pullAck(b.Context(), br, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	done()
	reportRate(b, b.N)
}

// BenchmarkPullNAckMany pulls 100 messages with PullN and acks them with
// one AckMany per op, out of a prefilled queue.
func BenchmarkPullNAckMany(b *testing.B) {
	rdb := testutil.RealRedis(b)
	br := benchBroker(b, rdb)
	prefill(b, br, b.N*benchBatch, facetNames(benchFacets))
	done := reportScriptTime(b, rdb, b.N*benchBatch)
	b.ResetTimer()
	for range b.N {
		if err := pullAck(b.Context(), br, benchBatch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	done()
	reportRate(b, b.N*benchBatch)
}

// pullAck leases exactly n messages of the bench queue and acks them.
func pullAck(ctx context.Context, br *broker.Broker, n int) error {
	ms, err := br.PullN(ctx, benchQueueName, n)
	if err != nil {
		return err
	}
	if len(ms) != n {
		return fmt.Errorf("pulled %d messages, want %d", len(ms), n)
	}
	return br.AckMany(ctx, ms)
}

// BenchmarkPullNFacets measures PullN(10)+AckMany per op on a queue whose
// facets all hold messages, for growing numbers of facets. Fair pull does
// no scan, so ns/op should not grow with the number of facets.
func BenchmarkPullNFacets(b *testing.B) {
	rdb := testutil.RealRedis(b)
	for _, n := range []int{10, 10_000, 100_000} {
		// One queue per size, kept across the runs of its sub-benchmark so
		// that 100,000 facets are filled once, not once per b.N.
		q := &facetQueue{rdb: rdb, facets: facetNames(n)}
		q.br = benchBroker(b, rdb)
		b.Run("facets="+strconv.Itoa(n), q.bench)
		// Free the server's memory for the next size.
		if err := q.br.DestroyQueue(b.Context(), benchQueueName); err != nil {
			b.Fatal(err)
		}
	}
}

// facetQueue is the queue of one BenchmarkPullNFacets size.
type facetQueue struct {
	rdb    redis.UniversalClient
	br     *broker.Broker
	facets []string
	rounds int // messages delivered to each facet
	pulled int // messages pulled and acked
}

func (q *facetQueue) bench(b *testing.B) {
	const perOp = 10
	// Pulls take facets in turn, so after p pulls no facet has lost more
	// than ceil(p/facets) messages. Top up, untimed, so that every facet
	// still holds a message when this run ends.
	f := len(q.facets)
	need := 1 + (q.pulled+b.N*perOp+f-1)/f
	if more := need - q.rounds; more > 0 {
		prefill(b, q.br, more*f, q.facets)
		q.rounds = need
	}
	done := reportScriptTime(b, q.rdb, b.N*perOp)
	b.ResetTimer()
	for range b.N {
		if err := pullAck(b.Context(), q.br, perOp); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	done()
	q.pulled += b.N * perOp
	reportRate(b, b.N*perOp)
	st, err := q.br.Stats(b.Context(), benchQueueName)
	if err != nil {
		b.Fatal(err)
	}
	if st.Facets != int64(f) {
		b.Fatalf("%d facets hold messages at the end, want all %d", st.Facets, f)
	}
}

// memoryResult is BenchmarkMemoryPerMessage's measurement, made once per
// test binary whatever b.N and -count are.
var memoryResult struct {
	once           sync.Once
	done           bool
	before, after  int64
	messages, body int
}

// BenchmarkMemoryPerMessage delivers 100,000 messages of a 100-byte body to
// one queue, one facet, on a fresh private redis-server, and reports the
// growth of INFO memory's used_memory per message ("bytes/msg") and the
// same less the body ("overhead-bytes/msg"). The measurement runs once; ns/op
// is suppressed because it measures nothing.
func BenchmarkMemoryPerMessage(b *testing.B) {
	r := &memoryResult
	r.once.Do(func() { measureMemory(b) })
	if !r.done {
		b.Skip("measurement did not complete")
	}
	perMsg := float64(r.after-r.before) / float64(r.messages)
	b.ReportMetric(perMsg, "bytes/msg")
	b.ReportMetric(perMsg-float64(r.body), "overhead-bytes/msg")
	b.ReportMetric(0, "ns/op")
}

func measureMemory(b *testing.B) {
	const messages = 100_000
	srv := testutil.StartServerT(b)
	rdb := srv.Client()
	b.Cleanup(func() { _ = rdb.Close() })
	br := benchBroker(b, rdb)
	before := usedMemory(b, rdb)
	prefill(b, br, messages, []string{"tenant"})
	after := usedMemory(b, rdb)
	st, err := br.Stats(b.Context(), benchQueueName)
	if err != nil {
		b.Fatal(err)
	}
	if st.Ready != messages {
		b.Fatalf("%d messages ready, want %d", st.Ready, messages)
	}
	r := &memoryResult
	r.before, r.after, r.messages, r.body, r.done = before, after, messages, len(benchBody), true
}

// usedMemory is INFO memory's used_memory.
func usedMemory(b *testing.B, rdb redis.UniversalClient) int64 {
	b.Helper()
	v, ok := redisInfo(b, rdb, "memory")["used_memory"]
	if !ok {
		b.Fatal("INFO memory has no used_memory")
	}
	return parseInt(b, v)
}
