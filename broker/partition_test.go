package broker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// partitioned returns a broker with queue "q" registered for every topic in
// k partitions.
func partitioned(t *testing.T, rdb redis.UniversalClient, cfg broker.Config, k int) *broker.Broker {
	t.Helper()
	b := newBroker(t, rdb, cfg)
	if err := b.RegisterQueue(t.Context(), "q", ".", broker.WithPartitions(k)); err != nil {
		t.Fatalf("RegisterQueue(q, WithPartitions(%d)): %v", k, err)
	}
	return b
}

func partitionsOf(t *testing.T, b *broker.Broker, queue string) broker.Partitioning {
	t.Helper()
	p, err := b.Partitions(t.Context(), queue)
	if err != nil {
		t.Fatalf("Partitions(%q): %v", queue, err)
	}
	return p
}

// checkPartitions checks the invariants of every partition of queue.
func checkPartitions(t *testing.T, rdb redis.UniversalClient, b *broker.Broker, queue string) {
	t.Helper()
	p := partitionsOf(t, b, queue)
	for _, name := range append(slices.Clone(p.Names), p.Draining...) {
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), name)
	}
}

// inOrder fails t unless each facet's bodies, in the order pulled, are
// "0", "1", "2", ...: each facet's messages came in the order delivered.
func inOrder(t *testing.T, pulled []string) {
	t.Helper()
	next := map[string]int{}
	for _, p := range pulled {
		f, body, _ := strings.Cut(p, ":")
		if body != fmt.Sprint(next[f]) {
			t.Fatalf("facet %s: got body %s, want %d (pulled %v)", f, body, next[f], pulled)
		}
		next[f]++
	}
}

// TestPartitionedQueue delivers to a queue of 3 partitions and checks where
// the messages land, that pulls give every facet's messages in order and
// take facets in turn, and that counts and invariants hold.
func TestPartitionedQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := partitioned(t, rdb, broker.Config{}, 3)
		p := partitionsOf(t, b, "q")
		if p.Count != 3 || p.Generation != 1 || len(p.Names) != 3 || len(p.Draining) != 0 || p.Since.IsZero() {
			t.Fatalf("Partitions = %+v", p)
		}
		const facetCount, each = 12, 4
		for i := range each {
			for f := range facetCount {
				deliver(t, b, "t", fmt.Sprintf("f%02d", f), fmt.Sprint(i))
			}
		}
		// Each facet is in exactly one partition, and all three are used.
		used := 0
		for _, name := range p.Names {
			s, err := testutil.ReadQueue(t.Context(), rdb, b.Namespace(), name)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Active) > 0 {
				used++
			}
			for _, f := range s.Active {
				if got := len(s.Facets[f]); got != each {
					t.Fatalf("partition %s holds %d of facet %v, want all %d", name, got, f, each)
				}
			}
		}
		if used != 3 {
			t.Fatalf("%d of 3 partitions hold messages", used)
		}
		if s := stats(t, b, "q"); s.Ready != facetCount*each || s.Facets != facetCount || !s.Routed {
			t.Fatalf("Stats = %+v", s)
		}
		checkPartitions(t, rdb, b, "q")
		m := pull(t, b, "q")
		if m.Queue != "q" {
			t.Fatalf("pulled message of queue %q, want q", m.Queue)
		}
		if err := b.Extend(t.Context(), m, time.Minute); err != nil {
			t.Fatalf("Extend: %v", err)
		}
		if err := b.Release(t.Context(), m); err != nil {
			t.Fatalf("Release: %v", err)
		}
		pulled := drain(t, b, "q")
		if len(pulled) != facetCount*each {
			t.Fatalf("pulled %d, want %d", len(pulled), facetCount*each)
		}
		inOrder(t, pulled)
		// Every facet had its first turn before any had its third.
		firstRound := map[string]bool{}
		for _, f := range facets(pulled[:facetCount*2]) {
			firstRound[f] = true
		}
		if len(firstRound) != facetCount {
			t.Fatalf("the first %d pulls served %d facets: %v", facetCount*2, len(firstRound), pulled)
		}
		wantStats(t, b, "q", broker.QueueStats{Routed: true})
		checkPartitions(t, rdb, b, "q")
	})
}

// TestPartitionFairness is the bound on fairness across partitions: one
// facet floods, many small ones each send a few; pulled one at a time or in
// batches, the small facets are done about as early as one queue would
// finish them: by position small*(per small)*(1+1/small)+slack.
func TestPartitionFairness(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, batch := range []int{1, 10} {
			t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
				b := partitioned(t, rdb, broker.Config{}, 3)
				const big, small, each = 600, 30, 5
				ds := make([]broker.Delivery, 0, big)
				for i := range big {
					d := broker.Delivery{Topic: "t", Facet: "big", Body: []byte(strconv.Itoa(i))}
					ds = append(ds, d)
				}
				if err := b.DeliverBatch(t.Context(), ds); err != nil {
					t.Fatal(err)
				}
				for i := range each {
					for f := range small {
						deliver(t, b, "t", fmt.Sprintf("s%02d", f), fmt.Sprint(i))
					}
				}
				lastSmall, pos := 0, 0
				for {
					ms, err := b.PullN(t.Context(), "q", batch)
					if err != nil {
						t.Fatal(err)
					}
					if len(ms) == 0 {
						break
					}
					for _, m := range ms {
						pos++
						if m.Facet != "big" {
							lastSmall = pos
						}
					}
					if err := b.AckMany(t.Context(), ms); err != nil {
						t.Fatal(err)
					}
				}
				if pos != big+small*each {
					t.Fatalf("pulled %d, want %d", pos, big+small*each)
				}
				// One queue finishes the small facets by (small+1)*each:
				// each round serves every facet once. Across partitions the
				// rotation weighs each partition by its turns at its last
				// pull, so it may be off by a batch per partition.
				const k = 3
				ideal := (small + 1) * each
				bound := ideal + k*batch + k
				t.Logf("batch %d: last small-facet message at position %d (ideal %d, bound %d)", batch, lastSmall, ideal, bound)
				if lastSmall > bound {
					t.Fatalf("last small-facet message at position %d, bound %d", lastSmall, bound)
				}
			})
		}
	})
}

// TestPartitionSettings checks that settings reach every partition and that
// facet operations work on the facet's partition.
func TestPartitionSettings(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{}, 3)
		for f := range 9 {
			for i := range 3 {
				deliver(t, b, "t", fmt.Sprintf("f%d", f), fmt.Sprint(i))
			}
		}
		if err := b.SetInflightLimit(ctx, "q", 1); err != nil {
			t.Fatal(err)
		}
		if err := b.PauseQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if s := stats(t, b, "q"); !s.Paused || s.InflightLimit != 1 {
			t.Fatalf("Stats after pause = %+v", s)
		}
		pullNone(t, b, "q")
		if err := b.ResumeQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if err := b.PauseFacet(ctx, "q", "f3"); err != nil {
			t.Fatal(err)
		}
		if err := b.SetFacetPriority(ctx, "q", "f4", 2); err != nil {
			t.Fatal(err)
		}
		fs, err := b.Facet(ctx, "q", "f4")
		if err != nil || fs.Priority != 2 || fs.Ready != 3 {
			t.Fatalf("Facet(f4) = %+v, %v", fs, err)
		}
		if err := b.SetFacetRateLimit(ctx, "q", "f5", broker.RateLimit{N: 100, Per: time.Second}); err != nil {
			t.Fatal(err)
		}
		if rl, err := b.FacetRateLimits(ctx, "q"); err != nil || len(rl) != 1 {
			t.Fatalf("FacetRateLimits = %v, %v", rl, err)
		}
		// In-flight limit 1: one message per facet, f3 paused.
		peek, err := b.Peek(ctx, "q", 100)
		if err != nil || len(peek) != 8 {
			t.Fatalf("Peek = %d messages, %v; want 8", len(peek), err)
		}
		for _, m := range peek {
			if m.Queue != "q" || m.Facet == "f3" {
				t.Fatalf("peeked %v", m)
			}
		}
		ms, err := b.PullN(ctx, "q", 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, m := range ms {
			got[m.Facet]++
		}
		if len(ms) != 8 || got["f3"] != 0 {
			t.Fatalf("pulled %v, want one of each facet but f3", got)
		}
		top, err := b.TopFacets(ctx, "q", 3)
		if err != nil || len(top) != 3 || top[0].Ready != 3 || top[0].Facet != "f3" {
			t.Fatalf("TopFacets = %+v, %v", top, err)
		}
		if err := b.AckMany(ctx, ms); err != nil {
			t.Fatal(err)
		}
		checkPartitions(t, rdb, b, "q")
	})
}

// TestPartitionDeadLetters checks that dead letters of every partition are
// listed, merged by time of death, and requeued and purged.
func TestPartitionDeadLetters(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{}, 3)
		for f := range 6 {
			deliver(t, b, "t", fmt.Sprintf("f%d", f), "0")
		}
		var killed []string
		for range 6 {
			m := pull(t, b, "q")
			if err := b.Kill(ctx, m, "bad"); err != nil {
				t.Fatal(err)
			}
			killed = append(killed, m.ID)
		}
		ds, err := b.DeadLetters(ctx, "q", 0, 10)
		if err != nil || len(ds) != 6 {
			t.Fatalf("DeadLetters = %d, %v", len(ds), err)
		}
		page, err := b.DeadLetters(ctx, "q", 2, 2)
		if err != nil || len(page) != 2 || page[0].ID != ds[2].ID || page[1].ID != ds[3].ID {
			t.Fatalf("DeadLetters(2, 2) = %v, %v", page, err)
		}
		for i := 1; i < len(ds); i++ {
			if ds[i].DiedAt.Before(ds[i-1].DiedAt) || ds[i].Queue != "q" {
				t.Fatalf("dead letters out of order: %+v", ds)
			}
		}
		if n, err := b.RequeueDead(ctx, "q", killed[0], killed[1]); err != nil || n != 2 {
			t.Fatalf("RequeueDead = %d, %v", n, err)
		}
		if n, err := b.PurgeAllDead(ctx, "q"); err != nil || n != 4 {
			t.Fatalf("PurgeAllDead = %d, %v", n, err)
		}
		if got := drain(t, b, "q"); len(got) != 2 {
			t.Fatalf("drained %v after requeue, want 2", got)
		}
		checkPartitions(t, rdb, b, "q")
	})
}

// TestRepartition changes the count of a live queue, from 1 to 3, 3 to 5
// and 5 to 1, with messages ready, leased, delayed and dead in the old
// partitions and producers that still route by the old count: nothing is
// lost, each facet's messages are pulled in order, leases taken before the
// change are acked, and the old partitions are deleted once drained.
func TestRepartition(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		cfg := broker.Config{DrainGrace: time.Millisecond}
		b := newQueue(t, rdb, cfg)
		stale := newBroker(t, rdb, broker.Config{Namespace: b.Namespace(), DrainGrace: time.Millisecond})
		next := map[string]int{}
		send := func(via *broker.Broker, n int) {
			for range n {
				for f := range 8 {
					facet := fmt.Sprintf("f%d", f)
					deliver(t, via, "t", facet, fmt.Sprint(next[facet]))
					next[facet]++
				}
			}
		}
		send(stale, 1) // stale's registry cache now has "q" unpartitioned
		var pulled []string
		take := func(n int) []*broker.Message {
			ms, err := b.PullN(ctx, "q", n)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				pulled = append(pulled, m.Facet+":"+string(m.Body))
			}
			return ms
		}
		for _, k := range []int{3, 5, 1} {
			send(b, 3)
			leased := take(5)
			dead := take(1)
			if err := b.Kill(ctx, dead[0], "to requeue later"); err != nil {
				t.Fatal(err)
			}
			deliver(t, b, "t", "delayed", fmt.Sprint(next["delayed"]), broker.WithDelay(50*time.Millisecond))
			next["delayed"]++
			before := partitionsOf(t, b, "q")
			if err := b.SetPartitions(ctx, "q", k); err != nil {
				t.Fatalf("SetPartitions(%d): %v", k, err)
			}
			p := partitionsOf(t, b, "q")
			if p.Count != k || len(p.Draining) == 0 {
				t.Fatalf("after SetPartitions(%d): %+v (before %+v)", k, p, before)
			}
			send(stale, 2) // routed by the old count, then rerouted
			send(b, 2)
			if err := b.AckMany(ctx, leased); err != nil {
				t.Fatalf("ack of leases taken before the change: %v", err)
			}
			if n, err := b.RequeueAllDead(ctx, "q"); err != nil || n != 1 {
				t.Fatalf("RequeueAllDead = %d, %v", n, err)
			}
			checkPartitions(t, rdb, b, "q")
			// Drain all, acking as we go; the delayed message comes due.
			testutil.Eventually(t, waitTimeout, func() bool {
				ms := take(50)
				if err := b.AckMany(ctx, ms); err != nil {
					t.Fatal(err)
				}
				s := stats(t, b, "q")
				return len(ms) == 0 && s.Ready+s.Delayed+s.InFlight+s.Dead == 0
			}, "queue drained after SetPartitions(%d)", k)
			// The next pull finds the old partitions empty and drops them.
			testutil.Eventually(t, waitTimeout, func() bool {
				take(1)
				return len(partitionsOf(t, b, "q").Draining) == 0
			}, "old partitions dropped after SetPartitions(%d)", k)
			for _, old := range before.Names {
				if slices.Contains(p.Names, old) {
					continue
				}
				if left := keysKept(t, rdb, b.Namespace()+":{"+testutil.GlobEscape(old)+"}:*"); len(left) > 0 {
					t.Fatalf("dropped partition %s left keys %v", old, left)
				}
			}
		}
		// Every message delivered was pulled, the dead ones twice.
		total := 0
		for _, n := range next {
			total += n
		}
		count := map[string]int{}
		for _, p := range pulled {
			count[p]++
		}
		for p, c := range count {
			if c > 1 {
				t.Logf("pulled %s %d times", p, c)
			}
		}
		if len(pulled) != total+3 {
			t.Fatalf("pulled %d, want %d delivered + 3 requeued", len(pulled), total)
		}
		seen := map[string]bool{}
		for _, p := range pulled {
			seen[p] = true
		}
		for f, n := range next {
			for i := range n {
				if !seen[fmt.Sprintf("%s:%d", f, i)] {
					t.Fatalf("lost %s:%d", f, i)
				}
			}
		}
	})
}

// TestRepartitionKeepsOrder checks drain-and-switch: a facet's messages
// delivered before a change of count are all pulled before those delivered
// after it, although they are now in another partition.
func TestRepartitionKeepsOrder(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := partitioned(t, rdb, broker.Config{DrainGrace: time.Millisecond}, 2)
		for i := range 20 {
			for f := range 6 {
				deliver(t, b, "t", fmt.Sprintf("f%d", f), fmt.Sprint(i))
			}
		}
		if err := b.SetPartitions(t.Context(), "q", 3); err != nil {
			t.Fatal(err)
		}
		for i := 20; i < 40; i++ {
			for f := range 6 {
				deliver(t, b, "t", fmt.Sprintf("f%d", f), fmt.Sprint(i))
			}
		}
		pulled := drain(t, b, "q")
		if len(pulled) != 240 {
			t.Fatalf("pulled %d, want 240", len(pulled))
		}
		inOrder(t, pulled)
	})
}

// TestPartitionValidation checks the bad cases of the partition API.
func TestPartitionValidation(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		before := snapshot(t, b)
		for _, k := range []int{-1, broker.MaxPartitions + 1} {
			if err := b.RegisterQueue(ctx, "p", ".", broker.WithPartitions(k)); !errors.Is(err, broker.ErrInvalidArgument) {
				t.Fatalf("WithPartitions(%d): %v", k, err)
			}
			if err := b.SetPartitions(ctx, "q", k); !errors.Is(err, broker.ErrInvalidArgument) {
				t.Fatalf("SetPartitions(%d): %v", k, err)
			}
		}
		if err := b.SetPartitions(ctx, "q", 0); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Fatalf("SetPartitions(0): %v", err)
		}
		if err := b.RegisterQueue(ctx, "p", ".", nil); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Fatalf("nil option: %v", err)
		}
		if err := b.SetPartitions(ctx, "nope", 2); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Fatalf("SetPartitions(unknown): %v", err)
		}
		for _, name := range []string{"", "q~1", "a b", strings.Repeat("x", broker.MaxQueueNameBytes+1)} {
			if err := b.SetPartitions(ctx, name, 2); !errors.Is(err, broker.ErrInvalidQueueName) {
				t.Fatalf("SetPartitions(%q): %v", name, err)
			}
			if _, err := b.Partitions(ctx, name); !errors.Is(err, broker.ErrInvalidQueueName) {
				t.Fatalf("Partitions(%q): %v", name, err)
			}
		}
		if after := snapshot(t, b); !maps.Equal(before, after) {
			t.Fatalf("a refused call changed Redis:\nbefore %v\nafter  %v", before, after)
		}
		// Setting the count it has changes nothing either.
		if err := b.SetPartitions(ctx, "q", 1); err != nil {
			t.Fatal(err)
		}
		if p := partitionsOf(t, b, "q"); p.Count != 1 || len(p.Names) != 1 || p.Names[0] != "q" {
			t.Fatalf("Partitions(q) = %+v", p)
		}
	})
}

// TestPartitionedDestroy checks that UnregisterQueue stops every partition
// and DestroyQueue deletes them all and forgets the partitioning.
func TestPartitionedDestroy(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{}, 4)
		for f := range 8 {
			deliver(t, b, "t", fmt.Sprint(f), "x")
		}
		if err := b.UnregisterQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if s := stats(t, b, "q"); s.Routed || s.Ready != 8 {
			t.Fatalf("Stats after unregister = %+v", s)
		}
		if err := b.DestroyQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if left := keysKept(t, rdb, b.Namespace()+":{q*"); len(left) > 0 {
			t.Fatalf("DestroyQueue left %v", left)
		}
		if p := partitionsOf(t, b, "q"); p.Count != 1 {
			t.Fatalf("Partitions after destroy = %+v", p)
		}
	})
}

// TestClusterPartitions runs a queue of 3 partitions on the 3-master
// cluster: the partitions land on 3 different masters, nothing meets a slot
// error, AckMany over partitions on several nodes is one pipeline per node,
// and a change of count on the cluster loses nothing.
func TestClusterPartitions(t *testing.T) {
	t.Parallel()
	rdb, guard := clusterClient(t)
	ctx := t.Context()
	c := testutil.SharedCluster(t)
	b := partitioned(t, rdb, broker.Config{DrainGrace: time.Millisecond}, 3)
	p := partitionsOf(t, b, "q")
	masters := map[string]bool{}
	for _, name := range p.Names {
		m, err := c.MasterOf(ctx, "{"+name+"}")
		if err != nil {
			t.Fatal(err)
		}
		masters[m] = true
	}
	if len(masters) != 3 {
		t.Fatalf("partitions %v are on %d masters, want 3", p.Names, len(masters))
	}
	var ds []broker.Delivery
	for i := range 300 {
		ds = append(ds, broker.Delivery{Topic: "t", Facet: fmt.Sprintf("f%d", i%30), Body: fmt.Appendf(nil, "%d", i/30)})
	}
	if err := b.DeliverBatch(ctx, ds); err != nil {
		t.Fatal(err)
	}
	ms, err := b.PullN(ctx, "q", 90)
	if err != nil || len(ms) != 90 {
		t.Fatalf("PullN = %d, %v", len(ms), err)
	}
	// The first ack on each node loads the script there (NOSCRIPT, then
	// EVAL in a second pipeline); count the pipelines of the next.
	var warm, rest []*broker.Message
	for i, m := range ms {
		if i%2 == 0 {
			warm = append(warm, m)
		} else {
			rest = append(rest, m)
		}
	}
	if err := b.AckMany(ctx, warm); err != nil {
		t.Fatal(err)
	}
	ms = rest
	guard.resetPipelines()
	if err := b.AckMany(ctx, ms); err != nil {
		t.Fatal(err)
	}
	for addr, n := range guard.pipelineCounts() {
		if n != 1 {
			t.Errorf("AckMany sent %d pipelines to %s, want 1", n, addr)
		}
	}
	if err := b.SetPartitions(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	checkPartitions(t, rdb, b, "q")
	for i := range 60 {
		deliver(t, b, "t", fmt.Sprintf("f%d", i%30), fmt.Sprint(10+i/30))
	}
	pulled := drain(t, b, "q")
	if len(pulled) != 300-90+60 {
		t.Fatalf("drained %d, want %d", len(pulled), 300-90+60)
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		pullNone(t, b, "q")
		return len(partitionsOf(t, b, "q").Draining) == 0
	}, "the old partitions dropped")
	checkPartitions(t, rdb, b, "q")
}

// keyHook counts the scripts a client sends on the keys of one queue (or
// partition).
type keyHook struct {
	prefix string
	n      atomic.Int64
}

func (h *keyHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *keyHook) count(cmd redis.Cmder) {
	args := cmd.Args()
	if name := cmd.Name(); (name == "evalsha" || name == "eval") && len(args) > 3 {
		if k, ok := args[3].(string); ok && strings.HasPrefix(k, h.prefix) {
			h.n.Add(1)
		}
	}
}

func (h *keyHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}

func (h *keyHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}

// Once a draining partition is found without a turn, the pulls of that
// process skip it for a while rather than pay a round trip each for
// nothing until it is deleted.
func TestDrainedPartitionSkipped(t *testing.T) {
	t.Parallel()
	rdb := newClient(t, testutil.RealRedis(t))
	b := newQueue(t, rdb, broker.Config{DrainGrace: time.Hour}) // never dropped here
	deliver(t, b, "t", "f", "old")
	if err := b.SetPartitions(t.Context(), "q", 2); err != nil {
		t.Fatal(err)
	}
	h := &keyHook{prefix: b.Namespace() + ":{q}:"}
	rdb.AddHook(h)
	ack(t, b, pull(t, b, "q")) // from the old partition, which is then empty
	pullNone(t, b, "q")        // finds it without a turn
	h.n.Store(0)
	start := time.Now()
	const pulls = 50
	for range pulls {
		pullNone(t, b, "q")
	}
	elapsed := time.Since(start)
	// One visit per 250 ms at most goes there, however slow this machine; a
	// visit that finds it drained runs three scripts there (the pull, the
	// move of its dead letters, the drop), and the 250 ms since the last
	// one may have begun before start.
	bound := 3 * int64(1+elapsed/(250*time.Millisecond))
	if got := h.n.Load(); got > bound || got >= pulls {
		t.Fatalf("%d scripts on the drained partition over %d pulls in %v, want at most %d", got, pulls, elapsed, bound)
	}
	if p := partitionsOf(t, b, "q"); len(p.Draining) != 1 {
		t.Fatalf("Partitions = %+v, want the old one still draining (DrainGrace 1h)", p)
	}
}

// Two changes of count at once: the one that announces itself after the
// other switched gets ErrConflict and leaves no partition the winner does
// not use.
func TestRepartitionConflict(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	winner := newQueue(t, testutil.RealRedis(t), broker.Config{})
	rdb := newClient(t, testutil.RealRedis(t))
	loser := newBroker(t, rdb, broker.Config{Namespace: winner.Namespace()})
	deliver(t, winner, "t", "f", "x")
	// partitions.lua: KEYS queues, version, parts, changing; ARGV queue,
	// op. A change starts with "prepare" (the registry is read by a script
	// on the same keys, which must not fire it).
	prepare := func(keys, argv []any) bool { return len(keys) == 4 && len(argv) > 1 && argv[1] == "prepare" }
	rdb.AddHook(&beforeScript{match: prepare, before: func() {
		if err := winner.SetPartitions(ctx, "q", 3); err != nil {
			t.Error(err)
		}
	}})
	if err := loser.SetPartitions(ctx, "q", 5); !errors.Is(err, broker.ErrConflict) {
		t.Fatalf("the second change: %v, want ErrConflict", err)
	}
	p := partitionsOf(t, winner, "q")
	if p.Count != 3 || p.Generation != 1 {
		t.Fatalf("Partitions = %+v, want the winner's 3 of generation 1", p)
	}
	keep := map[string]bool{"q": true}
	for _, name := range p.Names {
		keep[name] = true
	}
	for _, k := range keys(t, rdb, winner.Namespace()+":{q*") {
		tag := k[strings.Index(k, "{")+1 : strings.Index(k, "}")]
		if !keep[tag] {
			t.Errorf("key %s of a partition nobody uses was left", k)
		}
	}
	wantStats(t, winner, "q", broker.QueueStats{Ready: 1, Facets: 1, Routed: true})
}
