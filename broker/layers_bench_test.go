package broker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// The cost of checking each limit layer on the pull path (issue 16). Every
// limit is set so high that it never holds a message back: what is measured
// is the work of looking at it, not throttling.

const (
	// layerFacets is how many facets the queue of BenchmarkPullLayers
	// spreads its messages over, all of them holding messages throughout.
	layerFacets = 1000
	// layerBatch is the PullN size of BenchmarkPullLayers: fewer than the
	// facets, so that strict order (one message per facet at a time) never
	// runs out of facets to pull from.
	layerBatch = 10
)

// Limits that never throttle a queue pulled from one goroutine: in flight,
// a facet has at most one message (every pull is acked before the next),
// and the queue at most layerBatch; and the rates allow a million messages a
// second, with bursts that cover any two calls within Redis's millisecond.
var (
	layerInflight = 1000
	layerCap      = broker.MaxLimit
	layerRate     = broker.RateLimit{N: 1_000_000, Per: time.Second, Burst: 100_000}
)

// pullLayer is one setting of BenchmarkPullLayers: set applies it to the
// bench queue, whose facets are given.
type pullLayer struct {
	name string
	set  func(ctx context.Context, br *broker.Broker, facets []string) error
}

// layersOn are the layers one at a time.
var layersOn = []pullLayer{
	{"facet-limit", func(ctx context.Context, br *broker.Broker, _ []string) error {
		return br.SetInflightLimit(ctx, benchQueueName, layerInflight)
	}},
	{"own-limits", setOwnLimits},
	{"strict-order", func(ctx context.Context, br *broker.Broker, _ []string) error {
		return br.SetStrictOrder(ctx, benchQueueName, true)
	}},
	{"global-cap", func(ctx context.Context, br *broker.Broker, _ []string) error {
		return br.SetGlobalConcurrency(ctx, benchQueueName, layerCap)
	}},
	{"queue-rate", func(ctx context.Context, br *broker.Broker, _ []string) error {
		return br.SetQueueRateLimit(ctx, benchQueueName, layerRate)
	}},
	{"facet-rate", func(ctx context.Context, br *broker.Broker, _ []string) error {
		return br.SetRateLimit(ctx, benchQueueName, layerRate)
	}},
}

// setOwnLimits gives every facet an in-flight limit of its own, and the
// queue none.
func setOwnLimits(ctx context.Context, br *broker.Broker, facets []string) error {
	for _, f := range facets {
		if err := br.SetFacetInflightLimit(ctx, benchQueueName, f, layerInflight); err != nil {
			return err
		}
	}
	return nil
}

// setAllLayers sets every layer at once: the queue's in-flight limit and
// every facet's own, strict order, the global cap, the queue's rate limit
// and the facets' default one.
func setAllLayers(ctx context.Context, br *broker.Broker, facets []string) error {
	for _, l := range layersOn {
		if err := l.set(ctx, br, facets); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkPullLayers measures PullN(10)+AckMany per op, from one
// goroutine, on a queue of 1,000 facets that all hold messages, with each
// limit layer of the pull path off and on in turn (none throttles). Compare
// each sub-benchmark with "off" of the same run: ns/op is the whole round
// trip, redis-us/msg the time Redis spent in the scripts (a clock's time,
// which other processes on the machine stretch) and redis-cpu-us/msg the CPU
// time of Redis's main thread (which they hardly move).
func BenchmarkPullLayers(b *testing.B) {
	all := append([]pullLayer{{"off", nil}}, layersOn...)
	all = append(all, pullLayer{"all", setAllLayers})
	for _, l := range all {
		b.Run(l.name, func(b *testing.B) { benchPullLayer(b, l) })
	}
}

func benchPullLayer(b *testing.B, l pullLayer) {
	rdb := testutil.RealRedis(b)
	br := benchBroker(b, rdb)
	facets := facetNames(layerFacets)
	if l.set != nil {
		if err := l.set(b.Context(), br, facets); err != nil {
			b.Fatal(err)
		}
	}
	// Pulls take facets in turn, so after p pulls no facet has lost more
	// than ceil(p/facets) messages: one more each keeps all of them
	// holding messages to the end.
	perFacet := 1 + (b.N*layerBatch+layerFacets-1)/layerFacets
	prefill(b, br, perFacet*layerFacets, facets)
	done := reportScriptTime(b, rdb, b.N*layerBatch)
	cpuDone := reportRedisCPU(b, rdb, b.N*layerBatch)
	b.ResetTimer()
	for range b.N {
		if err := pullAck(b.Context(), br, layerBatch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpuDone()
	done()
	reportRate(b, b.N*layerBatch)
	st, err := br.Stats(b.Context(), benchQueueName)
	if err != nil {
		b.Fatal(err)
	}
	if st.Facets != layerFacets || st.InFlight != 0 {
		b.Fatalf("at the end %d facets hold messages and %d are in flight, want %d and 0", st.Facets, st.InFlight, layerFacets)
	}
}

// reportRedisCPU reads the CPU time of Redis's main thread (INFO cpu) now,
// and returns a func that reports the time used since per message as
// "redis-cpu-us/msg": unlike the scripts' time, which is measured by a
// clock, a busy machine that takes the core away from Redis does not add
// to it. It includes reading the commands and writing the replies. Call it
// untimed; nothing else may use the server meanwhile.
func reportRedisCPU(b *testing.B, rdb redis.UniversalClient, msgs int) func() {
	b.Helper()
	start := mainThreadCPU(b, rdb)
	return func() {
		b.ReportMetric((mainThreadCPU(b, rdb)-start).Seconds()*1e6/float64(msgs), "redis-cpu-us/msg")
	}
}

// mainThreadCPU is the user and system CPU time Redis's main thread has used.
func mainThreadCPU(b *testing.B, rdb redis.UniversalClient) time.Duration {
	b.Helper()
	info := redisInfo(b, rdb, "cpu")
	var total time.Duration
	for _, field := range []string{"used_cpu_user_main_thread", "used_cpu_sys_main_thread"} {
		s, err := strconv.ParseFloat(info[field], 64)
		if err != nil {
			b.Fatalf("INFO cpu %s = %q: %v", field, info[field], err)
		}
		total += time.Duration(s * float64(time.Second))
	}
	return total
}
