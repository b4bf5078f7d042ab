package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// The limit layers beside the per-facet ones: a facet's own in-flight
// limit, strict order, the queue's cap on leases over all workers, and the
// queue's own rate limit.

func facetCounts(ms []*broker.Message) map[string]int {
	got := map[string]int{}
	for _, m := range ms {
		got[m.Facet]++
	}
	return got
}

func pullCount(t *testing.T, b *broker.Broker, n int) []*broker.Message {
	t.Helper()
	ms, err := b.PullN(t.Context(), "q", n)
	if err != nil {
		t.Fatalf("PullN(%d): %v", n, err)
	}
	return ms
}

// A facet's own in-flight limit overrides the queue's, 0 exempts it, and
// clearing it brings the queue's back.
func TestFacetInflightLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		for _, f := range []string{"a", "big", "free"} {
			deliverN(t, b, f, 8)
		}
		setLimit(t, b, 1)
		if err := b.SetFacetInflightLimit(ctx, "q", "big", 3); err != nil {
			t.Fatal(err)
		}
		if err := b.SetFacetInflightLimit(ctx, "q", "free", 0); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, "q")
		ms := pullCount(t, b, 100)
		if got := facetCounts(ms); got["a"] != 1 || got["big"] != 3 || got["free"] != 8 {
			t.Fatalf("pulled %v; want a:1 big:3 free:8", got)
		}
		checkInvariants(t, b, "q")
		own, err := b.FacetInflightLimits(ctx, "q")
		if err != nil || len(own) != 2 || own["big"] != 3 || own["free"] != 0 {
			t.Fatalf("FacetInflightLimits = %v, %v", own, err)
		}
		for f, want := range map[string]broker.FacetStats{
			"a":   {InflightLimit: 1, InFlight: 1},
			"big": {InflightLimit: 3, OwnInflightLimit: true, InFlight: 3},
		} {
			fs, err := b.Facet(ctx, "q", f)
			if err != nil || fs.InflightLimit != want.InflightLimit || fs.OwnInflightLimit != want.OwnInflightLimit || fs.InFlight != want.InFlight {
				t.Fatalf("Facet(%s) = %+v, %v; want %+v", f, fs, err, want)
			}
		}
		if s := stats(t, b, "q"); s.OwnInflightLimits != 2 || s.InflightLimit != 1 {
			t.Fatalf("Stats = %+v", s)
		}
		// Raising a facet's own limit gives it its turn at once.
		if err := b.SetFacetInflightLimit(ctx, "q", "a", 2); err != nil {
			t.Fatal(err)
		}
		if got := facetCounts(pullCount(t, b, 100)); got["a"] != 1 || len(got) != 1 {
			t.Fatalf("after raising a's limit to 2, pulled %v; want a:1", got)
		}
		// Cleared: the queue's limit 1 applies to big again, which has 3 in
		// flight, so acking one of them gives it no turn yet.
		if err := b.ClearFacetInflightLimit(ctx, "q", "big"); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Facet == "big" {
				ack(t, b, m)
				break
			}
		}
		if got := facetCounts(pullCount(t, b, 100)); got["big"] != 0 {
			t.Fatalf("big over the queue's limit again, pulled %v", got)
		}
		checkInvariants(t, b, "q")
		// Without any limit left, the counts are no longer kept.
		setLimit(t, b, 0)
		for _, f := range []string{"a", "free"} {
			if err := b.ClearFacetInflightLimit(ctx, "q", f); err != nil {
				t.Fatal(err)
			}
		}
		if n := hlen(t, b, "q", "inflight"); n != 0 {
			t.Fatalf("inflight holds %d facets with no limit set", n)
		}
		checkInvariants(t, b, "q")
	})
}

// A facet's own limit alone (the queue has none) is kept and enforced.
func TestFacetInflightLimitWithoutQueueLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 5)
		deliverN(t, b, "b", 5)
		if err := b.SetFacetInflightLimit(ctx, "q", "a", 2); err != nil {
			t.Fatal(err)
		}
		ms := pullCount(t, b, 100)
		if got := facetCounts(ms); got["a"] != 2 || got["b"] != 5 {
			t.Fatalf("pulled %v; want a:2 b:5", got)
		}
		checkInvariants(t, b, "q")
		for _, m := range ms {
			if m.Facet == "a" {
				ack(t, b, m)
				break
			}
		}
		if got := facetCounts(pullCount(t, b, 100)); got["a"] != 1 {
			t.Fatalf("after an ack of a, pulled %v; want a:1", got)
		}
		checkInvariants(t, b, "q")
	})
}

// Under strict order a facet's messages run one at a time, in order, even
// across retries, crashes and dead letters; other facets are not held up.
func TestStrictOrder(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{MaxAttempts: 3})
		if err := b.SetStrictOrder(ctx, "q", true); err != nil {
			t.Fatal(err)
		}
		deliverN(t, b, "a", 4)
		deliverN(t, b, "b", 2)
		body := func(ms []*broker.Message) []string {
			var out []string
			for _, m := range ms {
				out = append(out, m.Facet+":"+string(m.Body))
			}
			return out
		}
		ms := pullLease(t, b, 10, time.Minute)
		if got := body(ms); !slices.Equal(got, []string{"a:0", "b:0"}) {
			t.Fatalf("pulled %q; want one of each facet", got)
		}
		if s := stats(t, b, "q"); !s.StrictOrder {
			t.Fatalf("Stats = %+v; want StrictOrder", s)
		}
		if fs, err := b.Facet(ctx, "q", "a"); err != nil || fs.InflightLimit != 1 {
			t.Fatalf("Facet(a) = %+v, %v", fs, err)
		}
		// a:0 fails and waits for its retry: a's later messages wait too.
		if err := b.Nack(ctx, ms[0], 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, "q")
		ack(t, b, ms[1])
		if got := body(pullLease(t, b, 10, time.Minute)); !slices.Equal(got, []string{"b:1"}) {
			t.Fatalf("while a:0 waits for its retry, pulled %q; want b:1 only", got)
		}
		// Its retry comes first, before a:1.
		var retry []*broker.Message
		testutil.Eventually(t, 5*time.Second, func() bool {
			retry = pullLease(t, b, 10, shortLease)
			return len(retry) > 0
		})
		if got := body(retry); !slices.Equal(got, []string{"a:0"}) || retry[0].Attempt != 2 {
			t.Fatalf("after the retry delay, pulled %q (attempt %d); want a:0 again", got, retry[0].Attempt)
		}
		// Its worker crashes: the lease expires, and a:0 is first again.
		waitRedisPast(t, rdb, retry[0].LeaseDeadline)
		again := pullLease(t, b, 10, time.Minute)
		if got := body(again); !slices.Equal(got, []string{"a:0"}) || again[0].Attempt != 3 {
			t.Fatalf("after the lease expired, pulled %q; want a:0 on attempt 3", got)
		}
		// Its last attempt fails: it is dead, and a:1 runs next.
		if err := b.Nack(ctx, again[0], time.Hour); err != nil {
			t.Fatal(err)
		}
		if s := stats(t, b, "q"); s.Dead != 1 {
			t.Fatalf("Stats = %+v; want a:0 dead", s)
		}
		next := pullLease(t, b, 10, time.Minute)
		if got := body(next); !slices.Equal(got, []string{"a:1"}) {
			t.Fatalf("after a:0 died, pulled %q; want a:1", got)
		}
		// A retry without a delay also comes first.
		if err := b.Nack(ctx, next[0], 0); err != nil {
			t.Fatal(err)
		}
		if got := body(pullLease(t, b, 10, time.Minute)); !slices.Equal(got, []string{"a:1"}) {
			t.Fatalf("after a nack without delay, pulled %q; want a:1 again", got)
		}
		checkInvariants(t, b, "q")
		// Off: the facet's remaining messages go at once.
		if err := b.SetStrictOrder(ctx, "q", false); err != nil {
			t.Fatal(err)
		}
		if got := body(pullLease(t, b, 10, time.Minute)); !slices.Equal(got, []string{"a:2", "a:3"}) {
			t.Fatalf("with strict order off, pulled %q; want a:2 a:3", got)
		}
		checkInvariants(t, b, "q")
	})
}

// Strict order turned on while a retry waits counts the retry as holding
// its facet, so the facet's next message still waits for it.
func TestStrictOrderSetWhileRetryWaits(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 3)
		m := pull(t, b, "q")
		if err := b.Nack(ctx, m, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := b.SetStrictOrder(ctx, "q", true); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, "q")
		pullNone(t, b, "q")
		if err := b.SetStrictOrder(ctx, "q", false); err != nil {
			t.Fatal(err)
		}
		if got := facetCounts(pullCount(t, b, 10)); got["a"] != 2 {
			t.Fatalf("strict order off: pulled %v; want a:2", got)
		}
		checkInvariants(t, b, "q")
	})
}

// The global cap holds over every puller, and its slots come back when
// leases end in any way, expiry (a crashed worker) included.
func TestGlobalConcurrency(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		other := newBroker(t, rdb, broker.Config{Namespace: b.Namespace()})
		for _, f := range []string{"a", "b", "c"} {
			deliverN(t, b, f, 5)
		}
		if err := b.SetGlobalConcurrency(ctx, "q", 3); err != nil {
			t.Fatal(err)
		}
		ms := pullLease(t, b, 10, shortLease)
		if got := facetCounts(ms); len(ms) != 3 || len(got) != 3 {
			t.Fatalf("pulled %v; want 3, one per facet in turn", got)
		}
		if more, err := other.PullN(ctx, "q", 10); err != nil || len(more) != 0 {
			t.Fatalf("another broker at the cap pulled %d, %v", len(more), err)
		}
		if s := stats(t, b, "q"); s.GlobalConcurrency != 3 || s.InFlight != 3 {
			t.Fatalf("Stats = %+v", s)
		}
		ack(t, b, ms[0])
		if more, err := other.PullN(ctx, "q", 10); err != nil || len(more) != 1 {
			t.Fatalf("after one ack, pulled %d, %v; want 1", len(more), err)
		}
		// The holder of the other two dies: their leases expire.
		waitRedisPast(t, rdb, ms[2].LeaseDeadline)
		if more, err := other.PullN(ctx, "q", 10); err != nil || len(more) != 2 {
			t.Fatalf("after two leases expired, pulled %d, %v; want 2", len(more), err)
		}
		checkInvariants(t, b, "q")
		if err := b.SetGlobalConcurrency(ctx, "q", 0); err != nil {
			t.Fatal(err)
		}
		if more := pullCount(t, b, 100); len(more) != 11 {
			t.Fatalf("without a cap, pulled %d; want the other 11 (1 acked, 3 leased)", len(more))
		}
		if s := stats(t, b, "q"); s.GlobalConcurrency != 0 {
			t.Fatalf("Stats = %+v", s)
		}
	})
}

// Acks, nacks and releases that take the queue below its cap wake idle
// workers, as no turn is given back then.
func TestGlobalConcurrencyWakes(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 10)
		if err := b.SetGlobalConcurrency(ctx, "q", 2); err != nil {
			t.Fatal(err)
		}
		ms := pullLease(t, b, 10, time.Minute)
		w, err := b.Watch(ctx, "q")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.Close() }()
		for _, free := range []func() error{
			func() error { return b.Ack(ctx, ms[0]) },
			func() error { return b.Nack(ctx, ms[1], time.Hour) },
		} {
			// Signals before this one (the subscription's own) are dropped.
			time.Sleep(50 * time.Millisecond)
			select {
			case <-w.C():
			default:
			}
			if err := free(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-w.C():
			case <-time.After(5 * time.Second):
				t.Fatal("no wake after a lease of a queue at its cap ended")
			}
			ms = append(ms, pullLease(t, b, 1, time.Minute)...)
		}
	})
}

// The queue's own rate limit holds over all facets, is spent only by
// messages leased (a facet at its own limit spends none of it), and the
// facets with work share it in turn.
func TestQueueRateLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		const perSecond, run = 20, 2 * time.Second
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if err := b.SetQueueRateLimit(ctx, "q", broker.RateLimit{N: perSecond, Per: time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := b.SetFacetRateLimit(ctx, "q", "slow", broker.RateLimit{N: 2, Per: time.Second}); err != nil {
			t.Fatal(err)
		}
		var batch []broker.Delivery
		for i := range 200 {
			for _, f := range []string{"slow", "b", "c"} {
				batch = append(batch, broker.Delivery{Topic: "t", Facet: f, Body: []byte(fmt.Sprint(i))})
			}
		}
		if err := b.DeliverBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		var times []time.Time
		count := map[string]int{}
		var start time.Time
		for {
			r, err := b.PullWith(ctx, "q", broker.PullOptions{Count: 8, Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if start.IsZero() {
				start = r.Now
			}
			if r.Now.Sub(start) >= run {
				_ = b.AckMany(ctx, r.Messages)
				break
			}
			for _, m := range r.Messages {
				times = append(times, m.LeaseDeadline.Add(-time.Minute))
				count[m.Facet]++
			}
			if err := b.AckMany(ctx, r.Messages); err != nil {
				t.Fatal(err)
			}
			if len(r.Messages) == 0 {
				if r.NextReadyAt.IsZero() {
					t.Fatal("nothing pulled and no NextReadyAt, with work held back by the queue's rate limit")
				}
				time.Sleep(min(max(r.NextReadyAt.Sub(r.Now), time.Millisecond), 50*time.Millisecond))
			}
		}
		checkInvariants(t, b, "q")
		// Never more than the limit in any window of a second.
		for i := perSecond; i < len(times); i++ {
			if d := times[i].Sub(times[i-perSecond]); d < time.Second {
				t.Fatalf("%d pulls within %v, over the queue's %d/s", perSecond+1, d, perSecond)
			}
		}
		// The budget is used: slow's own limit spends none of it.
		if total := len(times); total < int(run.Seconds()*perSecond)-3 {
			t.Fatalf("%d pulls in %v at %d/s: the queue's budget was not all used (%v)", total, run, perSecond, count)
		}
		if count["slow"] > 2*int(run.Seconds())+2 {
			t.Fatalf("slow pulled %d times in %v over its own 2/s", count["slow"], run)
		}
		// b and c share the rest in turn.
		if d := count["b"] - count["c"]; d < -1 || d > 1 {
			t.Fatalf("b and c unevenly served: %v", count)
		}
		if s := stats(t, b, "q"); s.QueueRateLimit != (broker.RateLimit{N: perSecond, Per: time.Second}) {
			t.Fatalf("Stats = %+v", s)
		}
	})
}

// A pull held back by the queue's rate limit says when it frees up, and
// removing the limit frees it at once.
func TestQueueRateLimitNextReadyAt(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if err := b.SetQueueRateLimit(ctx, "q", broker.RateLimit{N: 2, Per: time.Minute, Burst: 2}); err != nil {
			t.Fatal(err)
		}
		deliverN(t, b, "a", 2)
		deliverN(t, b, "b", 2)
		r, err := b.PullWith(ctx, "q", broker.PullOptions{Count: 10})
		if err != nil || len(r.Messages) != 2 {
			t.Fatalf("PullWith = %d messages, %v; want the burst, 2", len(r.Messages), err)
		}
		if got := facetCounts(r.Messages); got["a"] != 1 || got["b"] != 1 {
			t.Fatalf("pulled %v; want one of each facet", got)
		}
		if wait := r.NextReadyAt.Sub(r.Now); wait < 25*time.Second || wait > 31*time.Second {
			t.Fatalf("NextReadyAt in %v; want about 30s (one message every 30s)", wait)
		}
		if err := b.SetQueueRateLimit(ctx, "q", broker.RateLimit{}); err != nil {
			t.Fatal(err)
		}
		if more := pullCount(t, b, 10); len(more) != 2 {
			t.Fatalf("without the limit, pulled %d; want 2", len(more))
		}
		if s := stats(t, b, "q"); !s.QueueRateLimit.IsZero() {
			t.Fatalf("Stats = %+v", s)
		}
		checkInvariants(t, b, "q")
	})
}

// Every layer's setter refuses bad input and changes nothing.
func TestLimitLayersValidation(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{}, 3)
		before := snapshot(t, b)
		for name, err := range map[string]error{
			"SetFacetInflightLimit -1":  b.SetFacetInflightLimit(ctx, "q", "a", -1),
			"SetFacetInflightLimit big": b.SetFacetInflightLimit(ctx, "q", "a", broker.MaxLimit+1),
			"SetInflightLimit big":      b.SetInflightLimit(ctx, "q", broker.MaxLimit+1),
			"SetGlobalConcurrency -1":   b.SetGlobalConcurrency(ctx, "q", -1),
			"SetGlobalConcurrency 2":    b.SetGlobalConcurrency(ctx, "q", 2), // below the 3 partitions
			"SetQueueRateLimit":         b.SetQueueRateLimit(ctx, "q", broker.RateLimit{N: -1, Per: time.Second}),
			"SetQueueRateLimit burst":   b.SetQueueRateLimit(ctx, "q", broker.RateLimit{N: 1, Per: time.Second, Burst: 2}),
		} {
			if !errors.Is(err, broker.ErrInvalidArgument) {
				t.Errorf("%s = %v; want ErrInvalidArgument", name, err)
			}
		}
		for name, err := range map[string]error{
			"SetFacetInflightLimit":   b.SetFacetInflightLimit(ctx, "q", "", 1),
			"ClearFacetInflightLimit": b.ClearFacetInflightLimit(ctx, "q", ""),
		} {
			if !errors.Is(err, broker.ErrInvalidFacet) {
				t.Errorf("%s with an empty facet = %v; want ErrInvalidFacet", name, err)
			}
		}
		for name, err := range map[string]error{
			"SetFacetInflightLimit": b.SetFacetInflightLimit(ctx, "nope", "a", 1),
			"SetStrictOrder":        b.SetStrictOrder(ctx, "nope", true),
			"SetGlobalConcurrency":  b.SetGlobalConcurrency(ctx, "nope", 5),
			"SetQueueRateLimit":     b.SetQueueRateLimit(ctx, "nope", broker.RateLimit{N: 1, Per: time.Second}),
		} {
			if !errors.Is(err, broker.ErrUnknownQueue) {
				t.Errorf("%s on an unknown queue = %v; want ErrUnknownQueue", name, err)
			}
		}
		if after := snapshot(t, b); !mapsEqual(before, after) {
			t.Fatalf("refused settings changed Redis:\nbefore %v\nafter  %v", before, after)
		}
		// A cap of 4 over 3 partitions; then 5 partitions would leave one
		// without a share.
		if err := b.SetGlobalConcurrency(ctx, "q", 4); err != nil {
			t.Fatal(err)
		}
		if err := b.SetPartitions(ctx, "q", 5); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Fatalf("SetPartitions(5) over a cap of 4 = %v; want ErrInvalidArgument", err)
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Every layer's setting reaches the partitions SetPartitions creates, and
// the partitions together keep to the global cap.
func TestLimitLayersOnPartitions(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{DrainGrace: time.Hour}, 2)
		if err := b.SetFacetInflightLimit(ctx, "q", "big", 3); err != nil {
			t.Fatal(err)
		}
		if err := b.SetStrictOrder(ctx, "q", true); err != nil {
			t.Fatal(err)
		}
		if err := b.SetGlobalConcurrency(ctx, "q", 6); err != nil {
			t.Fatal(err)
		}
		qr := broker.RateLimit{N: 1000, Per: time.Second, Burst: 30}
		if err := b.SetQueueRateLimit(ctx, "q", qr); err != nil {
			t.Fatal(err)
		}
		if err := b.SetPartitions(ctx, "q", 3); err != nil {
			t.Fatal(err)
		}
		for _, part := range partitionsOf(t, b, "q").Names {
			cfg, err := rdb.HGetAll(ctx, b.Namespace()+":{"+part+"}:cfg").Result()
			if err != nil {
				t.Fatal(err)
			}
			if cfg["ordered"] != "1" || cfg["cap"] != "6" || cfg["qrate"] != "1000:1000:30" || cfg["limits"] != "1" {
				t.Fatalf("partition %s cfg = %v; want the queue's settings", part, cfg)
			}
			own, err := rdb.HGet(ctx, b.Namespace()+":{"+part+"}:limits", "big").Result()
			if err != nil || own != "3" {
				t.Fatalf("partition %s: big's own limit %q, %v", part, own, err)
			}
		}
		if err := b.SetStrictOrder(ctx, "q", false); err != nil {
			t.Fatal(err)
		}
		for f := range 12 {
			deliverN(t, b, fmt.Sprintf("f%d", f), 3)
		}
		// Each of the 3 partitions holds a share of 2 of the cap of 6.
		ms := pullCount(t, b, 100)
		if len(ms) > 6 {
			t.Fatalf("pulled %d over a global cap of 6", len(ms))
		}
		if more := pullCount(t, b, 100); len(more) != 0 {
			t.Fatalf("pulled %d more at the cap", len(more))
		}
		checkPartitions(t, rdb, b, "q")
	})
}

// A pull or nack whose reply is lost after Redis ran it, and which the
// client sends again, spends the layers once: the replayed pull leases
// nothing more against the global cap or the queue's rate, and a replayed
// nack under strict order holds its facet once.
func TestLimitLayersAfterLostReply(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("pull", func(t *testing.T) {
		t.Parallel()
		lossy, direct, p := lossyBroker(t, 200*time.Millisecond)
		if err := direct.SetGlobalConcurrency(ctx, "q", 3); err != nil {
			t.Fatal(err)
		}
		if err := direct.SetQueueRateLimit(ctx, "q", broker.RateLimit{N: 4, Per: time.Hour, Burst: 4}); err != nil {
			t.Fatal(err)
		}
		deliverN(t, direct, "a", 3)
		deliverN(t, direct, "b", 3)
		p.DropNext(1)
		ms, err := lossy.PullN(ctx, "q", 2)
		if err != nil || len(ms) != 2 {
			t.Fatalf("PullN(2) through a lost reply = %d, %v", len(ms), err)
		}
		requireDropped(t, p, 1)
		// One slot of the cap and two of the rate's burst of 4 are left.
		if more, err := direct.PullN(ctx, "q", 10); err != nil || len(more) != 1 {
			t.Fatalf("then PullN(10) = %d, %v; want the cap's last slot", len(more), err)
		}
		if err := direct.SetGlobalConcurrency(ctx, "q", 0); err != nil {
			t.Fatal(err)
		}
		if more, err := direct.PullN(ctx, "q", 10); err != nil || len(more) != 1 {
			t.Fatalf("without the cap, PullN(10) = %d, %v; want the rate's last one", len(more), err)
		}
		checkInvariants(t, direct, "q")
	})
	t.Run("nack under strict order", func(t *testing.T) {
		t.Parallel()
		lossy, direct, p := lossyBroker(t, 200*time.Millisecond)
		if err := direct.SetStrictOrder(ctx, "q", true); err != nil {
			t.Fatal(err)
		}
		deliverN(t, direct, "a", 2)
		m := pull(t, direct, "q")
		p.DropNext(1)
		if err := lossy.Nack(ctx, m, 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		requireDropped(t, p, 1)
		checkInvariants(t, direct, "q")
		pullNone(t, direct, "q")
		var retry *broker.Message
		testutil.Eventually(t, 5*time.Second, func() bool {
			ms := pullCount(t, direct, 10)
			if len(ms) > 0 {
				retry = ms[0]
			}
			return len(ms) > 0
		})
		if string(retry.Body) != "0" {
			t.Fatalf("after the retry delay, pulled %q; want the retry, 0", retry.Body)
		}
		ack(t, direct, retry)
		if next := pull(t, direct, "q"); string(next.Body) != "1" {
			t.Fatalf("then pulled %q; want 1", next.Body)
		}
		checkInvariants(t, direct, "q")
	})
}

// A message that expired at its turn is not leased, so it spends none of
// the queue's rate limit.
func TestQueueRateLimitSkipsExpired(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if err := b.SetQueueRateLimit(ctx, "q", broker.RateLimit{N: 2, Per: time.Hour, Burst: 2}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			deliver(t, b, "t", fmt.Sprint("e", i), "late", broker.WithTTL(time.Millisecond))
		}
		deliver(t, b, "t", "a", "on time")
		deliver(t, b, "t", "b", "on time")
		time.Sleep(20 * time.Millisecond)
		var got []*broker.Message
		for range 5 {
			got = append(got, pullCount(t, b, 10)...)
		}
		if len(got) != 2 || facetCounts(got)["a"] != 1 || facetCounts(got)["b"] != 1 {
			t.Fatalf("pulled %v; want a and b, the expired ones spending none of the rate", facetCounts(got))
		}
		if s := stats(t, b, "q"); s.Expired != 3 {
			t.Fatalf("Stats = %+v; want 3 expired", s)
		}
		checkInvariants(t, b, "q")
	})
}

// Rate limits of more than one message a millisecond let a pull take the
// messages of one millisecond at once (one at a time would hold every such
// limit to the rate of pulls), and still hold to their rate.
func TestRateLimitsAboveOnePerMillisecond(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, name := range []string{"queue", "facet"} {
			t.Run(name, func(t *testing.T) {
				ctx := t.Context()
				b := newQueue(t, rdb, broker.Config{})
				set := func(r broker.RateLimit) {
					t.Helper()
					var err error
					if name == "queue" {
						err = b.SetQueueRateLimit(ctx, "q", r)
					} else {
						err = b.SetRateLimit(ctx, "q", r)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				var batch []broker.Delivery
				for i := range 3000 {
					batch = append(batch, broker.Delivery{Topic: "t", Facet: "a", Body: []byte(fmt.Sprint(i))})
				}
				if err := b.DeliverBatch(ctx, batch); err != nil {
					t.Fatal(err)
				}
				for _, tc := range []struct{ n, want int }{{4000, 4}, {500, 1}} {
					set(broker.RateLimit{N: tc.n, Per: time.Second}) // starts afresh
					if got := pullCount(t, b, 100); len(got) != tc.want {
						t.Fatalf("at %d/s, one pull took %d; want %d, one millisecond's worth", tc.n, len(got), tc.want)
					}
				}
				// Pulls a millisecond apart: never over 4,000 a second,
				// plus the 4 of one millisecond.
				set(broker.RateLimit{N: 4000, Per: time.Second})
				var first, last time.Time
				n := 0
				for start := time.Now(); time.Since(start) < 300*time.Millisecond; time.Sleep(time.Millisecond) {
					res, err := b.PullWith(ctx, "q", broker.PullOptions{Count: 100, Lease: time.Minute})
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range res.Messages {
						if at := m.LeaseDeadline.Add(-time.Minute); first.IsZero() {
							first, last = at, at
						} else {
							last = at
						}
					}
					n += len(res.Messages)
				}
				if span := last.Sub(first); n == 0 || float64(n) > 4000*span.Seconds()+5 {
					t.Fatalf("%d pulls in %v, over 4000/s", n, span)
				}
			})
		}
	})
}
