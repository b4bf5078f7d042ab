package broker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/brokerlink"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// The tests in this file run the broker on a real Redis Cluster of three
// masters (testutil.SharedCluster), with queues spread over every master.
// A clusterGuard on every client fails the test on any CROSSSLOT error, or
// any script touching a key outside its slot.

// clusterGuard records the errors that a Redis Cluster gives a client that
// mixes slots, and counts the pipelines each node receives.
type clusterGuard struct {
	mu        sync.Mutex
	bad       []string
	pipelines map[string]int // node address -> pipelines sent to it
}

// slotErrors are the replies of a command or script that mixes slots.
var slotErrors = []string{"CROSSSLOT", "non local key", "same slot", "MOVED", "ASK"}

func (g *clusterGuard) check(cmds ...redis.Cmder) {
	for _, c := range cmds {
		err := c.Err()
		if err == nil {
			continue
		}
		for _, s := range slotErrors {
			if strings.Contains(err.Error(), s) {
				g.mu.Lock()
				g.bad = append(g.bad, fmt.Sprintf("%v: %v", c.Args(), err))
				g.mu.Unlock()
			}
		}
	}
}

// nodeHook is the guard on one node's client (addr set), where it counts
// pipelines and sees MOVED and ASK, or on the cluster client, where it sees
// the errors go-redis makes itself, such as CROSSSLOT for a transaction
// over several slots.
type nodeHook struct {
	g    *clusterGuard
	addr string
}

func (h nodeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h nodeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.g.check(cmd)
		return err
	}
}

func (h nodeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.addr != "" {
			h.g.mu.Lock()
			h.g.pipelines[h.addr]++
			h.g.mu.Unlock()
		}
		err := next(ctx, cmds)
		h.g.check(cmds...)
		return err
	}
}

// resetPipelines zeroes the pipeline counts.
func (g *clusterGuard) resetPipelines() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.pipelines)
}

func (g *clusterGuard) pipelineCounts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.pipelines)
}

// clusterClient returns a new client to the shared cluster, guarded: t
// fails at its end if any command met a slot error.
func clusterClient(t *testing.T) (*redis.ClusterClient, *clusterGuard) {
	t.Helper()
	rdb := testutil.RealCluster(t)
	g := &clusterGuard{pipelines: make(map[string]int)}
	// Node clients are made lazily, on the first command.
	rdb.OnNewNode(func(c *redis.Client) { c.AddHook(nodeHook{g: g, addr: c.Options().Addr}) })
	rdb.AddHook(nodeHook{g: g})
	t.Cleanup(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, b := range g.bad {
			t.Errorf("slot error on the cluster: %s", b)
		}
	})
	return rdb, g
}

// checkQueues runs the invariant checker on each queue.
func checkQueues(t *testing.T, b *broker.Broker, queues ...string) {
	t.Helper()
	for _, q := range queues {
		testutil.RequireQueueInvariants(t, b.Client(), b.Namespace(), q)
	}
}

// Deliveries reach queues on every master, in one pipeline per node, and
// a queue registered by another broker is seen by the next delivery.
func TestClusterDeliver(t *testing.T) {
	t.Parallel()
	rdb, guard := clusterClient(t)
	ctx := t.Context()
	qs := testutil.QueuesOnEveryMaster(t)
	b := newBroker(t, rdb, broker.Config{})
	for _, q := range qs {
		register(t, b, q, ".")
	}
	register(t, b, "odd", "^odd$")

	var ds []broker.Delivery
	for i := range 30 {
		topic := "even"
		if i%2 == 1 {
			topic = "odd"
		}
		ds = append(ds, broker.Delivery{Topic: topic, Facet: fmt.Sprintf("f%d", i%3), Body: fmt.Appendf(nil, "m%d", i)})
	}
	if err := b.DeliverBatch(ctx, ds[:1]); err != nil { // loads the registry and the scripts
		t.Fatal(err)
	}
	guard.resetPipelines()
	if err := b.DeliverBatch(ctx, ds[1:]); err != nil {
		t.Fatal(err)
	}
	// One round trip per node: the registry version, each queue's enqueue
	// script and the publishes, grouped by node.
	counts := guard.pipelineCounts()
	if len(counts) != 3 {
		t.Errorf("DeliverBatch sent pipelines to %d nodes, want all 3: %v", len(counts), counts)
	}
	for addr, n := range counts {
		if n != 1 {
			t.Errorf("DeliverBatch sent %d pipelines to %s, want 1 (%v)", n, addr, counts)
		}
	}
	for _, q := range qs {
		wantStats(t, b, q, broker.QueueStats{Ready: 30, Facets: 3, Routed: true})
	}
	wantStats(t, b, "odd", broker.QueueStats{Ready: 15, Facets: 3, Routed: true})
	checkQueues(t, b, append(qs, "odd")...)

	// Another process registers a queue; this broker's cached registry is
	// stale, and the registry's version, read in the delivery's pipeline,
	// says so.
	other := newBroker(t, rdb, broker.Config{Namespace: b.Namespace()})
	register(t, other, "late", ".")
	deliver(t, b, "even", "f0", "after")
	wantStats(t, b, "late", broker.QueueStats{Ready: 1, Facets: 1, Routed: true})

	for _, q := range qs {
		got := drain(t, b, q)
		if len(got) != 31 {
			t.Fatalf("drained %d messages from %s, want 31", len(got), q)
		}
		// Facets take turns.
		if first := slices.Sorted(slices.Values(facets(got[:3]))); !slices.Equal(first, []string{"f0", "f1", "f2"}) {
			t.Errorf("%s: first facets %v, want each once", q, facets(got[:3]))
		}
	}
	checkQueues(t, b, append(qs, "odd", "late")...)
}

// The guard sees slot errors, so the tests that pass show there were none.
func TestClusterGuard(t *testing.T) {
	t.Parallel()
	rdb, g := clusterClient(t)
	ns := testutil.Namespace(t)
	ctx := t.Context()
	want := func(name string, err error) {
		t.Helper()
		g.mu.Lock()
		bad := g.bad
		g.bad = nil
		g.mu.Unlock()
		t.Logf("%s: %v", name, err)
		if err == nil || len(bad) == 0 {
			t.Errorf("%s over two slots: %v; guard saw %q", name, err, bad)
		}
	}
	want("MSET", rdb.Do(ctx, "MSET", ns+":{a}:x", "1", ns+":{b}:x", "1").Err())
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, ns+":{a}:x")
		p.Get(ctx, ns+":{b}:x")
		return nil
	})
	want("MULTI", err)
	// A script that touches a key of another slot than its KEYS.
	want("EVAL", rdb.Eval(ctx, "return redis.call('GET', ARGV[1])", []string{ns + ":{a}:x"}, ns+":{b}:x").Err())
}

// Leases, retries, priorities, in-flight limits, pauses and dead letters
// work on queues on every master.
func TestClusterLeases(t *testing.T) {
	t.Parallel()
	rdb, _ := clusterClient(t)
	for _, q := range testutil.QueuesOnEveryMaster(t) {
		t.Run(q, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, rdb, broker.Config{MaxAttempts: 2})
			leaseOps(t, b, q)
		})
	}
}

// leaseOps runs the lease operations on queue q of b, whose MaxAttempts
// is 2: pull, extend, ack, release, nack, dead letters, priorities,
// in-flight limits and pauses, checking the queue's invariants on the way.
func leaseOps(t *testing.T, b *broker.Broker, q string) {
	t.Helper()
	ctx := t.Context()
	register(t, b, q, ".")
	for i := range 4 {
		deliver(t, b, "t", "a", fmt.Sprintf("a%d", i))
		deliver(t, b, "t", "b", fmt.Sprintf("b%d", i))
	}

	// Pull, extend, ack, release.
	m := pull(t, b, q)
	if err := b.Extend(ctx, m, time.Minute); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	ack(t, b, m)
	ms, err := b.PullN(ctx, q, 3)
	if err != nil || len(ms) != 3 {
		t.Fatalf("PullN = %d messages, %v", len(ms), err)
	}
	if err := b.Release(ctx, ms...); err != nil {
		t.Fatalf("Release: %v", err)
	}
	wantStats(t, b, q, broker.QueueStats{Ready: 7, Facets: 2, Routed: true})

	// Nack with a delay, then the second attempt dies.
	m = pull(t, b, q)
	if err := b.Nack(ctx, m, time.Millisecond, broker.WithReason(errors.New("boom"))); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	var retried *broker.Message
	testutil.Eventually(t, waitTimeout, func() bool {
		ms, err := b.PullN(ctx, q, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ms {
			if x.ID == m.ID {
				retried = x
			} else if err := b.Release(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		return retried != nil
	}, "the nacked message to come back")
	if retried.Attempt != 2 {
		t.Fatalf("retried attempt %d, want 2", retried.Attempt)
	}
	if err := b.Nack(ctx, retried, 0, broker.WithReason(errors.New("boom again"))); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	dead, err := b.DeadLetters(ctx, q, 0, 10)
	if err != nil || len(dead) != 1 || dead[0].ID != m.ID || dead[0].Error != "boom again" {
		t.Fatalf("DeadLetters = %+v, %v", dead, err)
	}
	if n, err := b.RequeueAllDead(ctx, q); err != nil || n != 1 {
		t.Fatalf("RequeueAllDead = %d, %v", n, err)
	}
	wantStats(t, b, q, broker.QueueStats{Ready: 7, Facets: 2, Routed: true})
	checkQueues(t, b, q)

	// Priorities: facet a gets 3 turns to b's 1.
	if err := b.SetFacetPriority(ctx, q, "a", 3); err != nil {
		t.Fatal(err)
	}
	// In-flight limit: one message per facet at a time.
	if err := b.SetInflightLimit(ctx, q, 1); err != nil {
		t.Fatal(err)
	}
	ms, err = b.PullN(ctx, q, 10)
	if err != nil || len(ms) != 2 {
		t.Fatalf("PullN at in-flight limit 1 = %d messages, %v; want 2", len(ms), err)
	}
	if err := b.AckMany(ctx, ms); err != nil {
		t.Fatal(err)
	}
	if err := b.SetInflightLimit(ctx, q, 0); err != nil {
		t.Fatal(err)
	}

	// Pause the queue, then a facet.
	if err := b.PauseQueue(ctx, q); err != nil {
		t.Fatal(err)
	}
	pullNone(t, b, q)
	if s := stats(t, b, q); !s.Paused || s.Ready != 5 {
		t.Fatalf("paused stats %+v", s)
	}
	if err := b.ResumeQueue(ctx, q); err != nil {
		t.Fatal(err)
	}
	if err := b.PauseFacet(ctx, q, "b"); err != nil {
		t.Fatal(err)
	}
	for _, p := range drain(t, b, q) {
		if !strings.HasPrefix(p, "a:") {
			t.Fatalf("pulled %s from the paused facet b", p)
		}
	}
	if err := b.ResumeFacet(ctx, q, "b"); err != nil {
		t.Fatal(err)
	}
	for _, p := range drain(t, b, q) {
		if !strings.HasPrefix(p, "b:") {
			t.Fatalf("pulled %s after a was drained", p)
		}
	}
	wantStats(t, b, q, broker.QueueStats{Routed: true})
	checkQueues(t, b, q)
}

// Priorities give a facet its share of turns, on the cluster too.
func TestClusterPriority(t *testing.T) {
	t.Parallel()
	rdb, _ := clusterClient(t)
	q := testutil.QueuesOnEveryMaster(t)[1]
	b := newBroker(t, rdb, broker.Config{})
	register(t, b, q, ".")
	if err := b.SetFacetPriority(t.Context(), q, "a", 3); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		deliver(t, b, "t", "a", fmt.Sprint(i))
		deliver(t, b, "t", "b", fmt.Sprint(i))
	}
	got := facets(drain(t, b, q))
	if n := strings.Count(strings.Join(got[:8], ""), "a"); n != 6 {
		t.Fatalf("first 8 pulls %v: %d of a, want 6 (priority 3 to 1)", got, n)
	}
	checkQueues(t, b, q)
}

// Subscriptions and watches hear deliveries and wake-ups published on
// other nodes: Redis Cluster forwards classic pub/sub to every node.
func TestClusterSubscribeWatch(t *testing.T) {
	t.Parallel()
	rdb, _ := clusterClient(t)
	ctx := t.Context()
	qs := testutil.QueuesOnEveryMaster(t)
	b := newBroker(t, rdb, broker.Config{})
	for _, q := range qs {
		register(t, b, q, ".")
	}
	sub, err := b.Subscribe(ctx, "orders.*")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	watches := make([]*broker.Watch, len(qs))
	for i, q := range qs {
		if watches[i], err = b.Watch(ctx, q); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = watches[i].Close() }()
	}
	deliver(t, b, "orders.new", "f", "hello")
	select {
	case ev := <-sub.Channel():
		if ev.Topic != "orders.new" || string(ev.Body) != "hello" {
			t.Fatalf("event %q %q", ev.Topic, ev.Body)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no event")
	}
	for i, w := range watches {
		select {
		case <-w.C():
		case <-time.After(waitTimeout):
			t.Fatalf("no wake-up for %s", qs[i])
		}
	}
}

// Every operation recovers from SCRIPT FLUSH on every node, as after a
// failover to a replica that never ran the scripts. Not parallel: the
// flushes would cost the other cluster tests extra round trips, which
// TestClusterDeliver counts.
func TestClusterNoScript(t *testing.T) {
	rdb, _ := clusterClient(t)
	admin := testutil.RealCluster(t)
	ctx := t.Context()
	qs := testutil.QueuesOnEveryMaster(t)
	b := newBroker(t, rdb, broker.Config{})
	flush := func() {
		t.Helper()
		// ScriptFlush on a cluster client reaches every master.
		if err := admin.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s after SCRIPT FLUSH: %v", name, err)
		}
		flush()
	}
	flush()
	for _, q := range qs {
		step("RegisterQueue", b.RegisterQueue(ctx, q, "."))
	}
	var ds []broker.Delivery
	for i := range 9 {
		ds = append(ds, broker.Delivery{Topic: "t", Facet: fmt.Sprint(i % 3), Body: []byte(fmt.Sprint(i))})
	}
	step("DeliverBatch", b.DeliverBatch(ctx, ds))
	for _, q := range qs {
		ms, err := b.PullN(ctx, q, 3)
		step("PullN", err)
		step("Extend", b.Extend(ctx, ms[0], time.Minute))
		step("Ack", b.Ack(ctx, ms[0]))
		step("Nack", b.Nack(ctx, ms[1], 0))
		step("Release", b.Release(ctx, ms[2]))
		step("SetFacetPriority", b.SetFacetPriority(ctx, q, "0", 2))
		step("SetInflightLimit", b.SetInflightLimit(ctx, q, 5))
		step("PauseQueue", b.PauseQueue(ctx, q))
		step("ResumeQueue", b.ResumeQueue(ctx, q))
		m, err := b.Pull(ctx, q)
		step("Pull", err)
		step("Kill", b.Kill(ctx, m, "x"))
		_, err = b.RequeueAllDead(ctx, q)
		step("RequeueAllDead", err)
		wantStats(t, b, q, broker.QueueStats{Ready: 8, Facets: 3, Routed: true, InflightLimit: 5})
		checkQueues(t, b, q)
		step("DestroyQueue", b.DestroyQueue(ctx, q))
	}
}

// DestroyQueue leaves no key of the queue on its node, and the registry
// forgets it.
func TestClusterDestroy(t *testing.T) {
	t.Parallel()
	rdb, _ := clusterClient(t)
	ctx := t.Context()
	qs := testutil.QueuesOnEveryMaster(t)
	b := newBroker(t, rdb, broker.Config{})
	for _, q := range qs {
		register(t, b, q, ".")
	}
	deliver(t, b, "t", "f", "x", broker.WithIdempotencyKey("k", time.Hour))
	deliver(t, b, "t", "g", "y", broker.WithDelay(time.Hour))
	m := pull(t, b, qs[0])
	if err := b.Kill(ctx, m, "dead"); err != nil {
		t.Fatal(err)
	}
	if err := brokerlink.AddHistory(ctx, b, time.Now(), map[string]broker.HistoryCounts{qs[0]: {Processed: 1}, qs[1]: {Failed: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if err := b.DestroyQueue(ctx, q); err != nil {
			t.Fatalf("DestroyQueue(%s): %v", q, err)
		}
		prefix := b.Namespace() + ":{" + q + "}:"
		node, err := rdb.MasterForKey(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		left, err := node.Keys(ctx, testutil.GlobEscape(prefix)+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		// Idempotency keys and replay markers are left to expire.
		left = slices.DeleteFunc(left, func(k string) bool {
			return strings.HasPrefix(k, prefix+"u:") || strings.HasPrefix(k, prefix+"r:")
		})
		if len(left) > 0 {
			t.Errorf("DestroyQueue(%s) left %v", q, left)
		}
	}
	if got, err := b.Queues(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Queues() = %v, %v; want none", got, err)
	}
}
