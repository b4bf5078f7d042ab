package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// lossyBroker is a broker whose client talks to the shared real
// redis-server through a proxy that can lose the replies of queue scripts (go-redis retries
// such a call: MaxRetries is left at its default), and a broker on a direct
// client under the same namespace, to look at the queue.
func lossyBroker(t *testing.T, readTimeout time.Duration) (lossy, direct *broker.Broker, p *testutil.Proxy) {
	t.Helper()
	rdb := testutil.RealRedis(t)
	// Every script is in the server's cache first: a call's first EVALSHA
	// would otherwise answer NOSCRIPT (never lost) and go-redis send the
	// script's text with EVAL, a request the proxy sees in several reads
	// and cannot match, so that the loss would fall on some later call.
	paths, err := fs.Glob(broker.ScriptFS, "scripts/gen/*.lua")
	if err != nil || len(paths) == 0 {
		t.Fatalf("scripts: %v, %v", paths, err)
	}
	for _, path := range paths {
		body, err := fs.ReadFile(broker.ScriptFS, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.ScriptLoad(t.Context(), string(body)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	p = testutil.StartProxyT(t, rdb.Options().Addr)
	// Only the queue scripts: the registry's (a broker's first call reads
	// the registry with one) would otherwise take the loss meant for the
	// call under test.
	p.SetMatch(func(req []byte) bool {
		if !testutil.MatchCommands("EVALSHA", "EVAL")(req) {
			return false
		}
		// "*n", "$len", "EVALSHA", "$len", sha, "$len", numkeys, "$len", KEYS[1]
		parts := strings.SplitN(string(req), "\r\n", 10)
		return len(parts) > 8 && !strings.Contains(parts[8], "{~registry}")
	})
	via := redis.NewClient(&redis.Options{Addr: p.Addr(), ReadTimeout: readTimeout})
	t.Cleanup(func() { _ = via.Close() })
	direct = newQueue(t, rdb, broker.Config{LeaseDuration: 2 * time.Second})
	lossy = newBroker(t, via, broker.Config{Namespace: direct.Namespace(), LeaseDuration: 2 * time.Second})
	return lossy, direct, p
}

// requireDropped fails t unless the proxy lost n replies: the fault
// happened.
func requireDropped(t *testing.T, p *testutil.Proxy, n int64) {
	t.Helper()
	if got := p.Dropped(); got != n {
		t.Fatalf("the proxy lost %d replies, want %d", got, n)
	}
}

// Each call whose reply is lost after Redis ran it, and which go-redis then
// sends again, has the effect of one call and answers as one call would.
func TestReplayedCallsChangeNothingMore(t *testing.T) {
	t.Parallel()
	for _, stall := range []time.Duration{0, 400 * time.Millisecond} {
		// With a stall the reply comes after the client's read timeout,
		// as it does from a slow or overloaded server.
		t.Run(fmt.Sprintf("stall=%v", stall), func(t *testing.T) {
			t.Parallel()
			testReplayedCalls(t, stall)
		})
	}
}

func testReplayedCalls(t *testing.T, stall time.Duration) {
	ctx := t.Context()
	setup := func(t *testing.T) (*broker.Broker, *broker.Broker, *testutil.Proxy) {
		lossy, direct, p := lossyBroker(t, 200*time.Millisecond)
		p.SetStall(stall)
		return lossy, direct, p
	}
	t.Run("DeliverBatch", func(t *testing.T) {
		lossy, direct, p := setup(t)
		ds := make([]broker.Delivery, 50)
		for i := range ds {
			ds[i] = broker.Delivery{Topic: "t", Facet: fmt.Sprint("f", i%5), Body: fmt.Appendf(nil, "m%d", i)}
		}
		p.DropNext(1)
		if err := lossy.DeliverBatch(ctx, ds); err != nil {
			t.Fatal(err)
		}
		requireDropped(t, p, 1)
		wantStats(t, direct, "q", broker.QueueStats{Ready: 50, Facets: 5, Routed: true})
		testutil.RequireQueueInvariants(t, direct.Client(), direct.Namespace(), "q")
	})
	t.Run("Pull", func(t *testing.T) {
		lossy, direct, p := setup(t)
		deliver(t, direct, "t", "a", "one")
		deliver(t, direct, "t", "a", "two")
		p.DropNext(1)
		m := pull(t, lossy, "q")
		requireDropped(t, p, 1)
		if string(m.Body) != "one" || m.Attempt != 1 {
			t.Fatalf("pulled %q attempt %d, want one attempt 1", m.Body, m.Attempt)
		}
		wantStats(t, direct, "q", broker.QueueStats{Ready: 1, InFlight: 1, Facets: 1, Routed: true})
		// The deadline the caller computes is the lease's in Redis, not one
		// from the time of the second run.
		deadline, err := direct.Client().ZScore(ctx, direct.Namespace()+":{q}:leased", broker.LeaseMember(m)).Result()
		if err != nil || int64(deadline) != m.LeaseDeadline.UnixMilli() {
			t.Errorf("LeaseDeadline %d, the lease ends at %v (%v)", m.LeaseDeadline.UnixMilli(), int64(deadline), err)
		}
		ack(t, direct, m) // the lease the caller holds is the lease in Redis
		if m := pull(t, direct, "q"); string(m.Body) != "two" || m.Attempt != 1 {
			t.Fatalf("then pulled %q attempt %d, want two attempt 1", m.Body, m.Attempt)
		}
		testutil.RequireQueueInvariants(t, direct.Client(), direct.Namespace(), "q")
	})
	leased := func(t *testing.T, direct *broker.Broker) *broker.Message {
		deliver(t, direct, "t", "a", "one")
		return pull(t, direct, "q")
	}
	for _, tc := range []struct {
		name string
		call func(*broker.Broker, *broker.Message) error
		want broker.QueueStats
	}{
		{"Nack", func(b *broker.Broker, m *broker.Message) error { return b.Nack(ctx, m, 0) },
			broker.QueueStats{Ready: 1, Facets: 1, Routed: true}},
		{"NackDelayed", func(b *broker.Broker, m *broker.Message) error { return b.Nack(ctx, m, time.Hour) },
			broker.QueueStats{Delayed: 1, Routed: true}},
		{"Kill", func(b *broker.Broker, m *broker.Message) error { return b.Kill(ctx, m, "bad") },
			broker.QueueStats{Dead: 1, Routed: true}},
		{"Release", func(b *broker.Broker, m *broker.Message) error { return b.Release(ctx, m) },
			broker.QueueStats{Ready: 1, Facets: 1, Routed: true}},
		{"Ack", func(b *broker.Broker, m *broker.Message) error { return b.Ack(ctx, m) },
			broker.QueueStats{Routed: true}},
		{"Extend", func(b *broker.Broker, m *broker.Message) error { return b.Extend(ctx, m, time.Hour) },
			broker.QueueStats{InFlight: 1, Routed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lossy, direct, p := setup(t)
			m := leased(t, direct)
			p.DropNext(1)
			if err := tc.call(lossy, m); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			requireDropped(t, p, 1)
			wantStats(t, direct, "q", tc.want)
			if tc.want.Ready == 1 {
				m2 := pull(t, direct, "q")
				if want := map[bool]int{true: 1, false: 2}[tc.name == "Release"]; m2.Attempt != want {
					t.Errorf("after %s the message comes back with attempt %d, want %d", tc.name, m2.Attempt, want)
				}
			}
			testutil.RequireQueueInvariants(t, direct.Client(), direct.Namespace(), "q")
		})
	}
	for _, tc := range []struct {
		name string
		call func(*broker.Broker) (int, error)
		want broker.QueueStats
	}{
		{"RequeueAllDead", func(b *broker.Broker) (int, error) { return b.RequeueAllDead(ctx, "q") },
			broker.QueueStats{Ready: 3, Facets: 1, Routed: true}},
		{"PurgeAllDead", func(b *broker.Broker) (int, error) { return b.PurgeAllDead(ctx, "q") },
			broker.QueueStats{Routed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lossy, direct, p := setup(t)
			for range 3 {
				if err := direct.Kill(ctx, leased(t, direct), "bad"); err != nil {
					t.Fatal(err)
				}
			}
			p.DropNext(1)
			n, err := tc.call(lossy)
			if err != nil || n != 3 {
				t.Fatalf("%s = %d, %v; want 3, nil", tc.name, n, err)
			}
			requireDropped(t, p, 1)
			wantStats(t, direct, "q", tc.want)
			testutil.RequireQueueInvariants(t, direct.Client(), direct.Namespace(), "q")
		})
	}
}

// A delivery whose reply comes after the client's read timeout, handled and
// acked by a worker before go-redis sends it again, is not queued again.
func TestReplayedDeliveryAfterItsAck(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lossy, direct, p := lossyBroker(t, 200*time.Millisecond)
	p.SetStall(time.Second)
	p.DropNext(1)
	var handled atomic.Int64
	stop := make(chan struct{})
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, err := direct.Pull(ctx, "q")
			if err != nil {
				t.Error(err)
				return
			}
			if m == nil {
				time.Sleep(time.Millisecond)
				continue
			}
			handled.Add(1)
			if err := direct.Ack(ctx, m); err != nil {
				t.Error(err)
			}
		}
	}()
	if err := lossy.DeliverBytes(ctx, "t", "a", []byte("once")); err != nil {
		t.Fatal(err)
	}
	requireDropped(t, p, 1)
	testutil.Eventually(t, waitTimeout, func() bool { return handled.Load() >= 1 }, "the message handled")
	close(stop)
	<-consumed
	if n := handled.Load(); n != 1 {
		t.Fatalf("the message was handled %d times, want once", n)
	}
	wantStats(t, direct, "q", broker.QueueStats{Routed: true})
}

// Under mixed load of producers (with no idempotency keys) and consumers,
// with one script reply in twenty lost, nothing is lost, nothing is queued
// or leased twice, no facet is stuck at its in-flight limit, and the queue's
// invariants hold.
func TestReplayUnderMixedLoad(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lossy, direct, p := lossyBroker(t, 250*time.Millisecond)
	if err := direct.SetInflightLimit(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	p.SetDropRate(0.05, 7)
	const producers, perProducer, consumers = 3, 150, 3
	var (
		mu         sync.Mutex
		delivered  = map[string]bool{} // body -> Deliver returned nil
		handled    = map[string]int{}
		failedPuts atomic.Int64
		failedOps  atomic.Int64
		leaseLost  atomic.Int64
	)
	var prod sync.WaitGroup
	for w := range producers {
		prod.Add(1)
		go func() {
			defer prod.Done()
			for i := 0; i < perProducer; {
				n := 1 + i%4 // singles and small batches
				ds := make([]broker.Delivery, 0, n)
				for j := 0; j < n && i < perProducer; j++ {
					ds = append(ds, broker.Delivery{Topic: "t", Facet: fmt.Sprint("f", (w*7+i)%10), Body: fmt.Appendf(nil, "p%d-%d", w, i)})
					i++
				}
				err := lossy.DeliverBatch(ctx, ds)
				mu.Lock()
				for _, d := range ds {
					delivered[string(d.Body)] = err == nil
				}
				mu.Unlock()
				if err != nil {
					failedPuts.Add(1)
				}
			}
		}()
	}
	prodDone := make(chan struct{})
	go func() { prod.Wait(); close(prodDone) }()
	var cons sync.WaitGroup
	for range consumers {
		cons.Add(1)
		go func() {
			defer cons.Done()
			for {
				ms, err := lossy.PullN(ctx, "q", 5)
				if err != nil {
					failedOps.Add(1)
					continue
				}
				if len(ms) == 0 {
					select {
					case <-prodDone:
						if s := stats(t, direct, "q"); s.Ready == 0 && s.InFlight == 0 && s.Delayed == 0 {
							return
						}
					default:
					}
					time.Sleep(2 * time.Millisecond)
					continue
				}
				mu.Lock()
				for _, m := range ms {
					handled[string(m.Body)]++
				}
				mu.Unlock()
				// Every other message fails once and is retried at once.
				var acks []*broker.Message
				for _, m := range ms {
					if m.Attempt == 1 && len(m.Body)%2 == 0 {
						err = lossy.Nack(ctx, m, 0)
					} else {
						acks = append(acks, m)
						continue
					}
					if errors.Is(err, broker.ErrLeaseLost) {
						leaseLost.Add(1)
					} else if err != nil {
						failedOps.Add(1)
					}
				}
				if err := lossy.AckMany(ctx, acks); errors.Is(err, broker.ErrLeaseLost) {
					leaseLost.Add(1)
				} else if err != nil {
					failedOps.Add(1)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { cons.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the queue did not drain: %+v", stats(t, direct, "q"))
	}
	t.Logf("%d replies lost; %d deliveries and %d other calls failed in all their tries", p.Dropped(), failedPuts.Load(), failedOps.Load())
	if p.Dropped() < 20 {
		t.Fatalf("only %d replies lost: the fault under test hardly happened", p.Dropped())
	}
	if n := leaseLost.Load(); n != 0 {
		t.Errorf("%d calls lost their lease: a message was leased twice", n)
	}
	// A message is handled once, or twice when its first try was nacked. A
	// call that failed in all its tries may leave a lease to expire, which
	// allows one more; a delivery that failed may or may not have happened.
	slack := 0
	if failedOps.Load() > 0 {
		slack = 1
	}
	for body, ok := range delivered {
		want := 1
		if len(body)%2 == 0 {
			want = 2
		}
		got := handled[body]
		low := want - slack // a message whose lease expired comes back with attempt 2: no nack
		if ok && (got < max(low, 1) || got > want+slack) || !ok && got != 0 && (got < low || got > want+slack) {
			t.Errorf("message %s (Deliver returned nil: %v) handled %d times, want %d", body, ok, got, want)
		}
	}
	if len(handled) > len(delivered) {
		t.Errorf("%d bodies handled, %d delivered", len(handled), len(delivered))
	}
	wantStats(t, direct, "q", broker.QueueStats{Routed: true, InflightLimit: 2})
	testutil.RequireQueueInvariants(t, direct.Client(), direct.Namespace(), "q")
}

// A call that carries a replay marker gives up after two thirds of
// Config.ReplayWindow, retries included, so that go-redis cannot send it
// again once Redis may have forgotten that it ran.
func TestReplayBound(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealRedis(t)
	p := testutil.StartProxyT(t, rdb.Options().Addr)
	p.SetMatch(testutil.MatchCommands("EVALSHA", "EVAL"))
	p.SetStall(3 * time.Second)
	// Without the bound, four tries of 800ms each would take over 3s.
	via := redis.NewClient(&redis.Options{Addr: p.Addr(), ReadTimeout: 800 * time.Millisecond, MaxRetries: 3})
	t.Cleanup(func() { _ = via.Close() })
	direct := newQueue(t, rdb, broker.Config{})
	lossy := newBroker(t, via, broker.Config{Namespace: direct.Namespace(), ReplayWindow: 1500 * time.Millisecond})
	deliver(t, lossy, "t", "a", "warm") // loads the registry: a script too
	p.DropNext(100)
	start := time.Now()
	err := lossy.DeliverBytes(t.Context(), "t", "a", []byte("x"))
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver with every reply lost: %v, want a deadline error", err)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("Deliver gave up after %v, want about 1s (two thirds of the replay window)", took)
	}
	// Redis ran it at least once: the message is queued exactly once.
	wantStats(t, direct, "q", broker.QueueStats{Ready: 2, Facets: 1, Routed: true})
}

// opCall matches a script call whose arguments hold op, as its own bulk
// string, and that names a key ending with key.
func opCall(op, key string) func([]byte) bool {
	return func(req []byte) bool {
		r := string(req)
		return testutil.MatchCommands("EVALSHA", "EVAL")(req) && strings.Contains(r, "\r\n"+op+"\r\n") && strings.Contains(r, key+"\r\n")
	}
}

// A change of partition count whose announcement or switch loses its reply
// still succeeds once, and the dead letters of the retired partitions, whose
// move loses the reply of its last step, are all kept.
func TestReplayedRepartition(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// prepare and set are partitions.lua's (registry keys), forget
	// dead_move.lua's (a partition's).
	for op, key := range map[string]string{"prepare": "}:changing", "set": "}:changing", "forget": "}:"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			rdb := testutil.RealRedis(t)
			p := testutil.StartProxyT(t, rdb.Options().Addr)
			via := redis.NewClient(&redis.Options{Addr: p.Addr()})
			t.Cleanup(func() { _ = via.Close() })
			direct := partitioned(t, rdb, broker.Config{DrainGrace: time.Millisecond}, 2)
			lossy := newBroker(t, via, broker.Config{Namespace: direct.Namespace(), DrainGrace: time.Millisecond})
			for i := range 6 {
				deliver(t, direct, "t", fmt.Sprint("f", i), fmt.Sprint(i))
				if err := direct.Kill(ctx, eventuallyPull(t, direct, "q"), "test"); err != nil {
					t.Fatal(err)
				}
			}
			p.SetMatch(opCall(op, key))
			p.DropNext(1)
			if err := lossy.SetPartitions(ctx, "q", 3); err != nil {
				t.Fatalf("SetPartitions with the reply of %q lost: %v", op, err)
			}
			// The retired partitions' dead letters move on the next pulls.
			testutil.Eventually(t, waitTimeout, func() bool {
				if m, err := lossy.Pull(ctx, "q"); err != nil || m != nil {
					t.Fatalf("Pull = %v, %v", m, err)
				}
				return len(partitionsOf(t, lossy, "q").Draining) == 0
			}, "the retired partitions dropped")
			requireDropped(t, p, 1)
			if got := partitionsOf(t, lossy, "q"); got.Count != 3 {
				t.Fatalf("partitions %+v, want 3", got)
			}
			if s := stats(t, lossy, "q"); s.Dead != 6 {
				t.Fatalf("%d dead letters after the change, want 6", s.Dead)
			}
			checkPartitions(t, rdb, lossy, "q")
		})
	}
}
