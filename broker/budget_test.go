package broker_test

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// budgetLease is the lease of the budget tests' brokers: short, so leases
// can be left to expire.
const budgetLease = 150 * time.Millisecond

// runsUntilDead pulls queue's only message again and again, failing each
// delivery by nacking it (expire false) or by letting its lease run out
// (expire true), and returns how many deliveries it had before it was dead.
// Every delivery must carry the budget want.
func runsUntilDead(t *testing.T, rdb redis.UniversalClient, b *broker.Broker, queue string, expire bool, want int) int {
	t.Helper()
	for runs := 0; runs <= want+1; runs++ {
		m, err := b.Pull(t.Context(), queue)
		if err != nil {
			t.Fatalf("Pull(%q): %v", queue, err)
		}
		if m == nil {
			return runs
		}
		if m.MaxAttempts != want || m.Attempt != runs+1 {
			t.Fatalf("delivery %d: %v with MaxAttempts %d; want attempt %d of %d", runs+1, m, m.MaxAttempts, runs+1, want)
		}
		if expire {
			waitRedisPast(t, rdb, m.LeaseDeadline)
		} else {
			nack(t, b, m, 0)
		}
	}
	t.Fatalf("still not dead after %d deliveries, want %d", want+2, want)
	return 0
}

// A message delivered with a budget of 3 through a broker whose default is
// 25 is dead after 3 failures and after 3 expired leases alike.
func TestBudgetOfDelivery(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, expire := range []bool{false, true} {
			b := newQueue(t, rdb, broker.Config{MaxAttempts: 25, LeaseDuration: budgetLease})
			deliver(t, b, "t", "f", "x", broker.WithMaxAttempts(3))
			if next, err := b.Peek(t.Context(), "q", 1); err != nil || len(next) != 1 || next[0].MaxAttempts != 3 {
				t.Fatalf("Peek = %+v, %v; want the message with its budget of 3", next, err)
			}
			if runs := runsUntilDead(t, rdb, b, "q", expire, 3); runs != 3 {
				t.Fatalf("expire %v: dead after %d deliveries, want 3", expire, runs)
			}
			ds, err := b.DeadLetters(t.Context(), "q", 0, 10)
			if err != nil || len(ds) != 1 || ds[0].MaxAttempts != 3 || ds[0].Attempt != 3 {
				t.Fatalf("DeadLetters = %+v, %v; want one, after 3 of 3 attempts", ds, err)
			}
			if want := "lease expired on attempt 3"; expire && ds[0].Error != want {
				t.Fatalf("dead letter's reason %q, want %q", ds[0].Error, want)
			}
		}
	})
}

// The budget comes from the delivery, else the queue's default, else the
// delivering broker's Config.MaxAttempts, each queue of a delivery applying
// its own default; a default set later changes only later messages, and
// removing it falls back to the broker's.
func TestBudgetDefaults(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{MaxAttempts: 7})
		register(t, b, "withdefault", ".")
		register(t, b, "plain", ".")
		if err := b.SetMaxAttempts(ctx, "withdefault", 4); err != nil {
			t.Fatal(err)
		}
		if st := stats(t, b, "withdefault"); st.MaxAttempts != 4 {
			t.Fatalf("Stats.MaxAttempts = %d, want 4", st.MaxAttempts)
		}
		if st := stats(t, b, "plain"); st.MaxAttempts != 0 {
			t.Fatalf("Stats.MaxAttempts of a queue without a default = %d, want 0", st.MaxAttempts)
		}
		deliver(t, b, "t", "f", "none")
		deliver(t, b, "t", "f", "own", broker.WithMaxAttempts(3))
		// A delivery's own budget stays, even when it is the producer's
		// default, and whatever other options the delivery has.
		deliver(t, b, "t", "f", "own default", broker.WithMaxAttempts(7))
		deliver(t, b, "t", "f", "keyed own", broker.WithMaxAttempts(5), broker.WithIdempotencyKey("k1", time.Minute))
		deliver(t, b, "t", "f", "keyed", broker.WithIdempotencyKey("k2", time.Minute))
		err := b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: "f", Body: []byte("batch"), MaxAttempts: 9}})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.SetMaxAttempts(ctx, "withdefault", 0); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t", "f", "after")
		want := map[string]map[string]int{
			"withdefault": {"none": 4, "own": 3, "own default": 7, "keyed own": 5, "keyed": 4, "batch": 9, "after": 7},
			"plain":       {"none": 7, "own": 3, "own default": 7, "keyed own": 5, "keyed": 7, "batch": 9, "after": 7},
		}
		for queue, bodies := range want {
			got := make(map[string]int)
			for range len(bodies) {
				m := pull(t, b, queue)
				got[string(m.Body)] = m.MaxAttempts
			}
			if !maps.Equal(got, bodies) {
				t.Errorf("%s: budgets %v, want %v", queue, got, bodies)
			}
		}
	})
}

// A budget out of [1, MaxAttemptsLimit] is refused with ErrInvalidArgument
// (ErrInvalidConfig for a Config) naming it, and nothing is written.
func TestBudgetRefused(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		before := snapshot(t, b)
		for _, n := range []int{0, -1, broker.MaxAttemptsLimit + 1, 1 << 40} {
			calls := map[string]func() error{
				"WithMaxAttempts": func() error {
					return b.DeliverBytes(ctx, "t", "f", []byte("x"), broker.WithMaxAttempts(n))
				},
				"Delivery.MaxAttempts": func() error {
					return b.DeliverBatch(ctx, []broker.Delivery{
						{Topic: "t", Facet: "f", Body: []byte("good")},
						{Topic: "t", Facet: "f", Body: []byte("bad"), MaxAttempts: n},
					})
				},
				"SetMaxAttempts": func() error { return b.SetMaxAttempts(ctx, "q", n) },
			}
			for name, call := range calls {
				if name != "WithMaxAttempts" && n == 0 {
					continue // 0 is the default there
				}
				err := call()
				if !errors.Is(err, broker.ErrInvalidArgument) || !strings.Contains(err.Error(), "max attempts "+strconv.Itoa(n)) {
					t.Errorf("%s(%d): %v, want ErrInvalidArgument naming it", name, n, err)
				}
			}
			if n == 0 {
				continue
			}
			_, err := broker.New(rdb, broker.Config{Namespace: b.Namespace(), MaxAttempts: n})
			if !errors.Is(err, broker.ErrInvalidConfig) || !strings.Contains(err.Error(), "MaxAttempts "+strconv.Itoa(n)) {
				t.Errorf("Config.MaxAttempts %d: %v, want ErrInvalidConfig naming it", n, err)
			}
		}
		if after := snapshot(t, b); !maps.Equal(before, after) {
			t.Fatalf("a refused budget changed Redis:\nbefore %v\nafter  %v", before, after)
		}
		// The limit itself is a budget.
		deliver(t, b, "t", "f", "x", broker.WithMaxAttempts(broker.MaxAttemptsLimit))
		if m := pull(t, b, "q"); m.MaxAttempts != broker.MaxAttemptsLimit {
			t.Fatalf("MaxAttempts %d, want %d", m.MaxAttempts, broker.MaxAttemptsLimit)
		}
	})
}

// A message stored in a version 1 envelope, which has no budget, is read,
// and gets the Config.MaxAttempts of the broker that pulls it, for failures
// and expired leases alike.
func TestBudgetOfVersion1Envelope(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, expire := range []bool{false, true} {
			b := newQueue(t, rdb, broker.Config{MaxAttempts: 2, LeaseDuration: budgetLease})
			deliver(t, b, "t", "f", "x", broker.WithMaxAttempts(9))
			msgs := b.Namespace() + ":{q}:msgs"
			ids, err := rdb.HKeys(t.Context(), msgs).Result()
			if err != nil || len(ids) != 1 {
				t.Fatalf("HKEYS msgs = %v, %v", ids, err)
			}
			// As a release before budgets wrote it: "1" facet topic headers body.
			if err := rdb.HSet(t.Context(), msgs, ids[0], "11:f1:t1:1:k1:vx").Err(); err != nil {
				t.Fatal(err)
			}
			m := pull(t, b, "q")
			if m.Topic != "t" || m.Facet != "f" || string(m.Body) != "x" || m.Headers["k"] != "v" || m.MaxAttempts != 2 {
				t.Fatalf("pulled %v, body %q, headers %v, MaxAttempts %d; want the old envelope read with budget 2", m, m.Body, m.Headers, m.MaxAttempts)
			}
			if err := b.Release(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			if runs := runsUntilDead(t, rdb, b, "q", expire, 2); runs != 2 {
				t.Fatalf("expire %v: dead after %d deliveries, want 2", expire, runs)
			}
		}
	})
}

// A queue's default holds on every partition, those SetPartitions adds
// later too, and applies to messages of every partition; a delivery's own
// budget still wins.
func TestBudgetPartitioned(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{MaxAttempts: 25, LeaseDuration: budgetLease, DrainGrace: time.Millisecond}, 3)
		if err := b.SetMaxAttempts(ctx, "q", 3); err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			p := partitionsOf(t, b, "q")
			for _, part := range p.Names {
				v, err := rdb.HGet(ctx, b.Namespace()+":{"+part+"}:cfg", "attempts").Result()
				if err != nil || v != "3" {
					t.Fatalf("%s: partition %s holds default %q, %v; want 3", when, part, v, err)
				}
			}
			if st := stats(t, b, "q"); st.MaxAttempts != 3 {
				t.Fatalf("%s: Stats.MaxAttempts = %d, want 3", when, st.MaxAttempts)
			}
			const n = 12
			for i := range n {
				deliver(t, b, "t", fmt.Sprintf("f%d", i), "x")
			}
			deliver(t, b, "t", "own", "own", broker.WithMaxAttempts(5))
			for range n + 1 {
				m := eventuallyPull(t, b, "q")
				want := 3
				if m.Facet == "own" {
					want = 5
				}
				if m.MaxAttempts != want {
					t.Fatalf("%s: %v has MaxAttempts %d, want %d", when, m, m.MaxAttempts, want)
				}
				ack(t, b, m)
			}
		}
		check("3 partitions")
		if err := b.SetPartitions(ctx, "q", 5); err != nil {
			t.Fatal(err)
		}
		check("5 partitions")
		// One failing message of a partition is dead after 3 expired leases.
		deliver(t, b, "t", "f", "x")
		for runs := 1; ; runs++ {
			m := eventuallyPull(t, b, "q")
			if m.Attempt != runs || runs > 3 {
				t.Fatalf("delivery %d is %v", runs, m)
			}
			waitRedisPast(t, rdb, m.LeaseDeadline)
			if runs == 3 {
				break
			}
		}
		testutil.Eventually(t, waitTimeout, func() bool {
			m, err := b.Pull(ctx, "q")
			if err != nil || m != nil {
				t.Fatalf("Pull = %v, %v; want nothing", m, err)
			}
			return stats(t, b, "q").Dead == 1
		}, "the message dead after 3 expired leases")
	})
}

// A queue default that is not a budget (a foreign write to cfg) counts as
// none: the message gets the broker's, and stays readable.
func TestBudgetForeignDefault(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{MaxAttempts: 6})
		for _, v := range []string{"x", "-2", "0", "1.5"} {
			if err := rdb.HSet(t.Context(), b.Namespace()+":{q}:cfg", "attempts", v).Err(); err != nil {
				t.Fatal(err)
			}
			deliver(t, b, "t", "f", v)
			if m := pull(t, b, "q"); string(m.Body) != v || m.MaxAttempts != 6 {
				t.Fatalf("with cfg.attempts %q: pulled %v, body %q, MaxAttempts %d; want the broker's 6", v, m, m.Body, m.MaxAttempts)
			}
		}
	})
}
