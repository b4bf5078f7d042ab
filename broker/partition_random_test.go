package broker_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestPartitionRandom drives a queue with random sequences of deliveries
// (some delayed), pulls, acks, nacks, kills, releases, requeues of dead
// letters and changes of the partition count, checking the invariants of
// every partition after each step. At the end it requeues the dead
// letters and drains the queue: every message delivered must have been
// acked, the queue must be empty, and no partition but the current ones
// left. It is the randomized search for a message lost or stranded by a
// change of partitioning mid-flight.
func TestPartitionRandom(t *testing.T) {
	t.Parallel()
	steps := 300
	if testing.Short() {
		steps = 100
	}
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, seed := range []uint64{1, 2, 3} {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				runPartitionRandom(t, rdb, seed, steps)
			})
		}
	})
}

func runPartitionRandom(t *testing.T, rdb redis.UniversalClient, seed uint64, steps int) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(seed, 99))
	// The run holds leases from step to step, for as long as a slow machine
	// takes (over 30 s under -race and load): no lease may expire meanwhile.
	b := newBroker(t, rdb, broker.Config{DrainGrace: time.Millisecond, MaxAttempts: 4, LeaseDuration: time.Hour})
	if err := b.RegisterQueue(ctx, "q", ".", broker.WithPartitions(1+rng.IntN(3))); err != nil {
		t.Fatal(err)
	}
	delivered := map[string]bool{} // body -> acked
	var held []*broker.Message
	seq := 0
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d, after %v: %s", seed, log[max(0, len(log)-15):], fmt.Sprintf(format, args...))
	}
	take := func(i int) *broker.Message {
		m := held[i]
		held = slices.Delete(held, i, i+1)
		return m
	}
	for step := range steps {
		var op string
		switch r := rng.IntN(100); {
		case r < 25:
			n := 1 + rng.IntN(8)
			op = fmt.Sprintf("deliver %d", n)
			ds := make([]broker.Delivery, n)
			for i := range ds {
				seq++
				body := fmt.Sprint(seq)
				delivered[body] = false
				ds[i] = broker.Delivery{Topic: "t", Facet: fmt.Sprintf("f%d", rng.IntN(7)), Body: []byte(body)}
				if rng.IntN(6) == 0 {
					ds[i].Delay = time.Duration(1+rng.IntN(5)) * time.Millisecond
				}
			}
			if err := b.DeliverBatch(ctx, ds); err != nil {
				fail("%s: %v", op, err)
			}
		case r < 50:
			n := 1 + rng.IntN(6)
			op = fmt.Sprintf("pull %d", n)
			ms, err := b.PullN(ctx, "q", n)
			if err != nil {
				fail("%s: %v", op, err)
			}
			held = append(held, ms...)
		case r < 65 && len(held) > 0:
			m := take(rng.IntN(len(held)))
			op = "ack " + string(m.Body)
			if err := b.Ack(ctx, m); err != nil {
				fail("%s: %v", op, err)
			}
			delivered[string(m.Body)] = true
		case r < 72 && len(held) > 0:
			m := take(rng.IntN(len(held)))
			op = "nack " + string(m.Body)
			if err := b.Nack(ctx, m, time.Duration(rng.IntN(3))*time.Millisecond); err != nil {
				fail("%s: %v", op, err)
			}
		case r < 76 && len(held) > 0:
			m := take(rng.IntN(len(held)))
			op = "kill " + string(m.Body)
			if err := b.Kill(ctx, m, "random"); err != nil {
				fail("%s: %v", op, err)
			}
		case r < 82 && len(held) > 0:
			m := take(rng.IntN(len(held)))
			op = "release " + string(m.Body)
			if err := b.Release(ctx, m); err != nil {
				fail("%s: %v", op, err)
			}
		case r < 86:
			op = "requeue all dead"
			if _, err := b.RequeueAllDead(ctx, "q"); err != nil {
				fail("%s: %v", op, err)
			}
		case r < 94:
			k := 1 + rng.IntN(5)
			op = fmt.Sprintf("partitions %d", k)
			if err := b.SetPartitions(ctx, "q", k); err != nil {
				fail("%s: %v", op, err)
			}
		default:
			op = "wait"
			time.Sleep(3 * time.Millisecond)
		}
		log = append(log, fmt.Sprintf("%d:%s", step, op))
		p, err := b.Partitions(ctx, "q")
		if err != nil {
			fail("Partitions: %v", err)
		}
		for _, name := range append(slices.Clone(p.Names), p.Draining...) {
			if err := testutil.CheckQueue(ctx, rdb, b.Namespace(), name); err != nil {
				fail("%s: %v", name, err)
			}
		}
	}
	// The end: every lease acked, dead letters back, the rest drained.
	for _, m := range held {
		if err := b.Ack(ctx, m); err != nil {
			fail("final ack: %v", err)
		}
		delivered[string(m.Body)] = true
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		if _, err := b.RequeueAllDead(ctx, "q"); err != nil {
			fail("requeue: %v", err)
		}
		ms, err := b.PullN(ctx, "q", 100)
		if err != nil {
			fail("drain: %v", err)
		}
		for _, m := range ms {
			if err := b.Ack(ctx, m); err != nil {
				fail("drain ack: %v", err)
			}
			delivered[string(m.Body)] = true
		}
		s := stats(t, b, "q")
		return len(ms) == 0 && s.Ready+s.InFlight+s.Delayed+s.Dead == 0
	}, "seed %d: the queue drained", seed)
	for body, acked := range delivered {
		if !acked {
			fail("message %s was delivered and never pulled", body)
		}
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		if _, err := b.PullN(ctx, "q", 1); err != nil {
			fail("pull: %v", err)
		}
		p, err := b.Partitions(ctx, "q")
		return err == nil && len(p.Draining) == 0
	}, "seed %d: old partitions dropped", seed)
}
