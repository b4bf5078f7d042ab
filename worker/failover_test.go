package worker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// The tests in this file kill a Redis master under load, and check that
// producers and workers carry on by themselves once a replica is promoted:
// nothing here calls ClusterClient.ReloadState or restarts anything.
//
// Redis replicates asynchronously, so a failover may lose the last writes
// the dead master acknowledged (docs/failover.md): a delivery, which is
// then never handled, or an ack, which comes back as a redelivery. The
// tests count both and report them; they fail if a delivery acknowledged
// more than replicationLagMax before the kill, or any time after it, is
// never handled.

// replicationLagMax bounds how far a replica on loopback may lag behind
// its master: a write acknowledged longer ago than this before the kill
// must survive the failover.
const replicationLagMax = time.Second

// failoverLoad is a stream of deliveries to several queues and a worker
// pool handling them, with what each side saw.
type failoverLoad struct {
	t      *testing.T
	b      *broker.Broker
	queues []string // queue i takes topic "t<i>"

	// strict: every acknowledged delivery must be handled, as
	// Config.ReplicaAcks promises.
	strict bool

	mu       sync.Mutex
	acked    map[string]time.Time // body -> when Deliver returned nil
	handled  map[string]int       // body -> times handled
	firstAt  map[string]time.Time // body -> when first handled
	failures int                  // Deliver calls that returned an error
	slowest  time.Duration        // the longest Deliver call
}

// startFailoverLoad registers queues on rdb, starts a worker pool on them
// and a producer per queue, which retries a delivery until Deliver
// returns nil, with a broker configured by cfg. The producers run until
// stop is called.
func startFailoverLoad(t *testing.T, rdb redis.UniversalClient, queues []string, cfg broker.Config) (l *failoverLoad, stop func()) {
	t.Helper()
	cfg.Namespace, cfg.Logger = testutil.Namespace(t), quietLog
	b, err := broker.New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l = &failoverLoad{
		t: t, b: b, queues: queues, strict: cfg.ReplicaAcks > 0,
		acked: make(map[string]time.Time), handled: make(map[string]int), firstAt: make(map[string]time.Time),
	}
	weights := make(map[string]int)
	for i, q := range queues {
		if err := b.RegisterQueue(t.Context(), q, fmt.Sprintf("^t%d$", i)); err != nil {
			t.Fatal(err)
		}
		weights[q] = 1
	}
	// Short leases, so that messages whose ack the failover lost come back
	// soon. A poll interval longer than the failover takes: an idle worker
	// resumes only if its wake-up subscription came back on the new master.
	w := worker.New(b, quick(worker.Config{
		Concurrency: 8, Queues: weights, LeaseDuration: 2 * time.Second, PollInterval: 5 * time.Second,
	}))
	for _, q := range queues {
		w.HandleFunc(q, l.handle)
	}
	startWorker(t, w, b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, q := range queues {
		wg.Go(func() { l.produce(ctx, i, q) })
	}
	return l, func() { cancel(); wg.Wait() }
}

func (l *failoverLoad) handle(_ context.Context, m *broker.Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	body := string(m.Body)
	l.handled[body]++
	if _, ok := l.firstAt[body]; !ok {
		l.firstAt[body] = time.Now()
	}
	return nil
}

// produce delivers "<queue>-<n>" to topic "t<i>", n = 0, 1, ..., one
// every few milliseconds, retrying each until Deliver returns nil.
func (l *failoverLoad) produce(ctx context.Context, i int, q string) {
	for n := 0; ctx.Err() == nil; n++ {
		body := fmt.Sprintf("%s-%d", q, n)
		for ctx.Err() == nil {
			start := time.Now()
			err := l.b.DeliverBytes(ctx, fmt.Sprintf("t%d", i), fmt.Sprintf("f%d", n%4), []byte(body))
			l.mu.Lock()
			l.slowest = max(l.slowest, time.Since(start))
			if err == nil {
				l.acked[body] = time.Now()
			} else if ctx.Err() == nil {
				l.failures++
			}
			l.mu.Unlock()
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// handledCount is how many different messages were handled.
func (l *failoverLoad) handledCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.handled)
}

// resumedAt is when the first message of queue delivered after since was
// handled, if one was.
func (l *failoverLoad) resumedAt(queue string, since time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for body, at := range l.acked {
		if at.After(since) && len(body) > len(queue) && body[:len(queue)+1] == queue+"-" {
			if h, ok := l.firstAt[body]; ok && (first.IsZero() || h.Before(first)) {
				first = h
			}
		}
	}
	return first, !first.IsZero()
}

// run warms up, calls kill, waits for queue victim to be handled again,
// lets the load run a little longer, stops the producers, waits for the
// queues to drain and checks what was handled. It returns how long
// handling of victim took to resume after the kill.
func (l *failoverLoad) run(victim string, kill func() time.Time) time.Duration {
	t := l.t
	testutil.Eventually(t, 30*time.Second, func() bool { return l.handledCount() >= 200 }, "the load to warm up")
	killedAt := kill()
	var resumed time.Time
	testutil.Eventually(t, 45*time.Second, func() bool {
		var ok bool
		resumed, ok = l.resumedAt(victim, killedAt)
		return ok
	}, "handling of %s to resume after the kill, with no help from the test", victim)
	resume := resumed.Sub(killedAt)
	before := l.handledCount()
	testutil.Eventually(t, 30*time.Second, func() bool { return l.handledCount() >= before+200 }, "the load to go on")
	return resume
}

// check stops the producers, waits until the queues are drained, and
// checks that every delivery acknowledged outside the replication window
// before killedAt was handled. It logs what the failover lost.
func (l *failoverLoad) check(stop func(), killedAt time.Time) {
	t := l.t
	stop()
	ctx := t.Context()
	// Messages whose ack was lost come back when their lease (2s) ends.
	testutil.Eventually(t, 30*time.Second, func() bool {
		for _, q := range l.queues {
			s, err := l.b.Stats(ctx, q)
			if err != nil || s.Ready+s.InFlight+s.Delayed+s.Dead > 0 {
				return false
			}
		}
		return true
	}, "the queues to drain")
	l.mu.Lock()
	defer l.mu.Unlock()
	var lost, lostLate []string
	duplicates := 0
	for body, at := range l.acked {
		if l.handled[body] == 0 {
			lost = append(lost, body)
			if l.strict || at.Before(killedAt.Add(-replicationLagMax)) || at.After(killedAt) {
				lostLate = append(lostLate, fmt.Sprintf("%s (acked %v from the kill)", body, at.Sub(killedAt)))
			}
		}
	}
	for _, n := range l.handled {
		if n > 1 {
			duplicates++
		}
	}
	slices.Sort(lost)
	t.Logf("failover: %d deliveries acknowledged, %d Deliver errors retried, slowest Deliver %v, %d handled more than once, "+
		"%d acknowledged but lost by asynchronous replication %v",
		len(l.acked), l.failures, l.slowest.Round(time.Millisecond), duplicates, len(lost), lost)
	switch {
	case l.strict && len(lostLate) > 0:
		t.Errorf("lost %d deliveries that replicas had confirmed: %v", len(lostLate), lostLate)
	case len(lostLate) > 0:
		t.Errorf("lost %d deliveries acknowledged outside the %v before the kill: %v", len(lostLate), replicationLagMax, lostLate)
	}
	// The replica holds a prefix of the master's writes, each script's
	// effects whole, so the queues are consistent even when the last
	// writes were lost.
	for _, q := range l.queues {
		testutil.RequireQueueInvariants(t, l.b.Client(), l.b.Namespace(), q)
	}
}

// A master of a 3-master Redis Cluster dies under load; its replica takes
// over, and the broker's reload hook (broker/failover.go) points the
// ClusterClient at it.
func TestClusterFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node cluster and waits for a failover")
	}
	t.Parallel()
	c := testutil.StartClusterT(t, testutil.ClusterOptions{Replicas: 1, NodeTimeout: time.Second})
	rdb := c.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	queues, err := c.QueuesOnEveryMaster(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	l, stop := startFailoverLoad(t, rdb, queues, broker.Config{})
	victim := queues[0]
	var killedAt time.Time
	resume := l.run(victim, func() time.Time {
		master, err := c.MasterOf(t.Context(), "{"+victim+"}")
		if err != nil {
			t.Fatal(err)
		}
		c.Node(master).Kill()
		killedAt = time.Now() // once the process is gone: later acks are the new master's
		return killedAt
	})
	t.Logf("failover: cluster (cluster-node-timeout 1s): %s handled again %v after its master was killed", victim, resume.Round(time.Millisecond))
	l.check(stop, killedAt)
}

// The primary of a Sentinel setup dies under load; the sentinels promote
// its replica and the FailoverClient follows.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sentinel setup and waits for a failover")
	}
	t.Parallel()
	sentinelFailoverUnderLoad(t, 1, broker.Config{})
}

// With Config.ReplicaAcks 1, no delivery that Deliver acknowledged is
// lost in the failover: the sentinels promote the replica with the most
// data, which has every write a replica confirmed. The primary has two
// replicas, so that the new one still has a replica to confirm writes.
func TestSentinelFailoverReplicaAcks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sentinel setup and waits for a failover")
	}
	t.Parallel()
	sentinelFailoverUnderLoad(t, 2, broker.Config{ReplicaAcks: 1})
}

// sentinelFailoverUnderLoad kills the primary of a Sentinel setup with
// replicas replicas under load, on a broker configured by cfg.
func sentinelFailoverUnderLoad(t *testing.T, replicas int, cfg broker.Config) {
	s := testutil.StartSentinelT(t, testutil.SentinelOptions{DownAfter: time.Second, Replicas: replicas})
	rdb := s.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	queues := []string{"a", "b", "c"}
	l, stop := startFailoverLoad(t, rdb, queues, cfg)
	var killedAt time.Time
	resume := l.run(queues[0], func() time.Time {
		if _, err := s.KillPrimary(t.Context()); err != nil {
			t.Fatal(err)
		}
		killedAt = time.Now() // once the process is gone: later acks are the new primary's
		return killedAt
	})
	t.Logf("failover: sentinel (down-after 1s, %d replicas, ReplicaAcks %d): handling resumed %v after the primary was killed",
		replicas, cfg.ReplicaAcks, resume.Round(time.Millisecond))
	l.check(stop, killedAt)
}
