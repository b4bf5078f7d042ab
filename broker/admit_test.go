package broker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// Admission control at delivery: a facet's backlog cap (the queue's
// default or its own), refused or made room for by dropping the oldest, and
// the queue's cap on its messages.

func setBacklogLimit(t *testing.T, b *broker.Broker, n int) {
	t.Helper()
	if err := b.SetBacklogLimit(t.Context(), "q", n); err != nil {
		t.Fatalf("SetBacklogLimit(%d): %v", n, err)
	}
}

// requireRefused fails t unless err is a BacklogFullError with exactly
// want (the deliveries refused, in order).
func requireRefused(t *testing.T, err error, want ...broker.Refusal) {
	t.Helper()
	if !errors.Is(err, broker.ErrBacklogFull) {
		t.Fatalf("err = %v; want ErrBacklogFull", err)
	}
	var full *broker.BacklogFullError
	if !errors.As(err, &full) {
		t.Fatalf("err = %v; want a *BacklogFullError", err)
	}
	if len(full.Refused) != len(want) {
		t.Fatalf("refused %+v; want %+v", full.Refused, want)
	}
	for i := range want {
		if full.Refused[i] != want[i] {
			t.Fatalf("refused %+v; want %+v", full.Refused, want)
		}
	}
}

func readyOf(t *testing.T, b *broker.Broker, facet string) int64 {
	t.Helper()
	fs, err := b.Facet(t.Context(), "q", facet)
	if err != nil {
		t.Fatal(err)
	}
	return fs.Ready
}

// A facet at its cap refuses the next delivery, which writes nothing, not
// even an idempotency key; other facets, delayed messages and deliveries
// after a pull are taken.
func TestBacklogLimitRefuses(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		setBacklogLimit(t, b, 3)
		deliverN(t, b, "acme", 3)
		before := snapshot(t, b)
		err := b.DeliverBytes(ctx, "t", "acme", []byte("over"), broker.WithIdempotencyKey("k1", time.Hour))
		requireRefused(t, err, broker.Refusal{Queue: "q", Facet: "acme", Cap: 3})
		if msg := err.Error(); !strings.Contains(msg, `facet "acme" holds its backlog cap of 3`) {
			t.Fatalf("error %q does not say which facet and cap", msg)
		}
		if after := snapshot(t, b); !maps.Equal(before, after) {
			t.Fatalf("a refused delivery changed Redis:\nbefore %v\nafter  %v", before, after)
		}
		deliver(t, b, "t", "beta", "b")                                  // another facet has room
		deliver(t, b, "t", "acme", "later", broker.WithDelay(time.Hour)) // delayed: not ready
		if got := readyOf(t, b, "acme"); got != 3 {
			t.Fatalf("acme ready = %d; want 3", got)
		}
		ack(t, b, pull(t, b, "q"))
		ack(t, b, pull(t, b, "q"))
		// The refused key was never claimed: the same key is taken now.
		if err := b.DeliverBytes(ctx, "t", "acme", []byte("again"), broker.WithIdempotencyKey("k1", time.Hour)); err != nil {
			t.Fatalf("after a pull made room: %v", err)
		}
		s := stats(t, b, "q")
		if s.BacklogLimit != 3 || s.BacklogPolicy != broker.BacklogRefuse || s.Dropped != 0 || s.Delayed != 1 {
			t.Fatalf("Stats = %+v", s)
		}
		fs, err := b.Facet(ctx, "q", "acme")
		if err != nil || fs.BacklogLimit != 3 || fs.OwnBacklogLimit {
			t.Fatalf("Facet(acme) = %+v, %v", fs, err)
		}
		checkInvariants(t, b, "q")
		setBacklogLimit(t, b, 0)
		deliverN(t, b, "acme", 5)
		if s := stats(t, b, "q"); s.BacklogLimit != 0 {
			t.Fatalf("after removing the cap, Stats = %+v", s)
		}
		if cfg, _ := rdb.HGetAll(ctx, b.Namespace()+":{q}:cfg").Result(); cfg["admit"] != "" {
			t.Fatalf("cfg.admit = %q after every cap was removed; want it gone", cfg["admit"])
		}
	})
}

// A facet's own cap overrides the queue's, 0 exempts it, and clearing it
// brings the queue's back.
func TestFacetBacklogLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		setBacklogLimit(t, b, 2)
		if err := b.SetFacetBacklogLimit(ctx, "q", "big", 5); err != nil {
			t.Fatal(err)
		}
		if err := b.SetFacetBacklogLimit(ctx, "q", "free", 0); err != nil {
			t.Fatal(err)
		}
		for f, room := range map[string]int{"small": 2, "big": 5, "free": 20} {
			deliverN(t, b, f, room)
			err := b.DeliverBytes(ctx, "t", f, []byte("x"))
			if f == "free" {
				if err != nil {
					t.Fatalf("an exempt facet was refused: %v", err)
				}
				continue
			}
			requireRefused(t, err, broker.Refusal{Queue: "q", Facet: f, Cap: room})
		}
		own, err := b.FacetBacklogLimits(ctx, "q")
		if err != nil || len(own) != 2 || own["big"] != 5 || own["free"] != 0 {
			t.Fatalf("FacetBacklogLimits = %v, %v", own, err)
		}
		if s := stats(t, b, "q"); s.OwnBacklogLimits != 2 || s.BacklogLimit != 2 {
			t.Fatalf("Stats = %+v", s)
		}
		fs, err := b.Facet(ctx, "q", "big")
		if err != nil || fs.BacklogLimit != 5 || !fs.OwnBacklogLimit {
			t.Fatalf("Facet(big) = %+v, %v", fs, err)
		}
		if err := b.ClearFacetBacklogLimit(ctx, "q", "big"); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, b.DeliverBytes(ctx, "t", "big", []byte("x")), broker.Refusal{Queue: "q", Facet: "big", Cap: 2})
		// An own cap alone, with no default, applies too.
		setBacklogLimit(t, b, 0)
		if err := b.SetFacetBacklogLimit(ctx, "q", "small", 2); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, b.DeliverBytes(ctx, "t", "small", []byte("x")), broker.Refusal{Queue: "q", Facet: "small", Cap: 2})
		deliver(t, b, "t", "big", "x")
		checkInvariants(t, b, "q")
	})
}

// A batch is admitted or refused whole on each queue; the deliveries of
// concurrent callers, joined into one script call, are each their own.
func TestBacklogLimitBatches(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		setBacklogLimit(t, b, 2)
		deliverN(t, b, "acme", 1)
		before := snapshot(t, b)
		err := b.DeliverBatch(ctx, []broker.Delivery{
			{Topic: "t", Facet: "acme", Body: []byte("1")},
			{Topic: "t", Facet: "beta", Body: []byte("b")},
			{Topic: "t", Facet: "acme", Body: []byte("2")},
		})
		requireRefused(t, err,
			broker.Refusal{Index: 0, Queue: "q", Facet: "acme", Cap: 2},
			broker.Refusal{Index: 1, Queue: "q", Facet: "beta", Cap: 2},
			broker.Refusal{Index: 2, Queue: "q", Facet: "acme", Cap: 2})
		if after := snapshot(t, b); !maps.Equal(before, after) {
			t.Fatalf("a refused batch changed Redis:\nbefore %v\nafter  %v", before, after)
		}
		// Two deliveries of one key are one new message: the batch fits.
		if err := b.DeliverBatch(ctx, []broker.Delivery{
			{Topic: "t", Facet: "acme", Body: []byte("k"), IdempotencyKey: "k"},
			{Topic: "t", Facet: "acme", Body: []byte("k again"), IdempotencyKey: "k"},
		}); err != nil {
			t.Fatalf("a batch with one new message where the facet has room for one: %v", err)
		}
		if got := readyOf(t, b, "acme"); got != 2 {
			t.Fatalf("acme ready = %d; want 2", got)
		}
		ack(t, b, pull(t, b, "q"))
		// Many callers at once: acme has room for one more, beta for two.
		var wg sync.WaitGroup
		errs := make([]error, 40)
		for i := range errs {
			wg.Go(func() {
				f := "acme"
				if i%2 == 1 {
					f = fmt.Sprint("t", i) // a facet of its own, with room
				}
				errs[i] = b.DeliverBytes(ctx, "t", f, []byte(fmt.Sprint(i)))
			})
		}
		wg.Wait()
		admitted := 0
		for i, err := range errs {
			switch {
			case i%2 == 1 && err != nil:
				t.Fatalf("delivery %d to a facet with room: %v", i, err)
			case i%2 == 0 && err == nil:
				admitted++
			case i%2 == 0 && !errors.Is(err, broker.ErrBacklogFull):
				t.Fatalf("delivery %d: %v", i, err)
			}
		}
		if admitted != 1 || readyOf(t, b, "acme") != 2 {
			t.Fatalf("%d of acme's concurrent deliveries taken, acme holds %d; want 1 and 2", admitted, readyOf(t, b, "acme"))
		}
		checkInvariants(t, b, "q")
	})
}

// Under the drop policy a facet past its cap keeps its newest messages:
// the oldest become dead letters with a reason, counted in Stats.Dropped.
func TestBacklogDropOldest(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		setBacklogLimit(t, b, 3)
		if err := b.SetBacklogPolicy(ctx, "q", broker.BacklogDropOldest); err != nil {
			t.Fatal(err)
		}
		deliverN(t, b, "acme", 5) // 0..4: 0 and 1 make room
		ds := make([]broker.Delivery, 4)
		for i := range ds {
			ds[i] = broker.Delivery{Topic: "t", Facet: "acme", Body: fmt.Appendf(nil, "b%d", i)}
		}
		if err := b.DeliverBatch(ctx, ds); err != nil { // a batch past the cap keeps its newest 3
			t.Fatal(err)
		}
		deliverN(t, b, "beta", 2)
		var got []string
		for _, m := range pullCount(t, b, 100) {
			if m.Facet == "acme" {
				got = append(got, string(m.Body))
			}
		}
		if strings.Join(got, ",") != "b1,b2,b3" {
			t.Fatalf("acme's messages left: %v; want b1,b2,b3", got)
		}
		dead, err := b.DeadLetters(ctx, "q", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, d := range dead {
			if !strings.HasPrefix(d.Error, "backlog full") {
				t.Fatalf("dead letter %s has reason %q", d.ID, d.Error)
			}
			bodies = append(bodies, string(d.Body))
		}
		if strings.Join(bodies, ",") != "0,1,2,3,4,b0" {
			t.Fatalf("dead letters %v; want the oldest six, 0..4 and b0", bodies)
		}
		if s := stats(t, b, "q"); s.Dropped != 6 || s.Dead != 6 || s.BacklogPolicy != broker.BacklogDropOldest {
			t.Fatalf("Stats = %+v", s)
		}
		checkInvariants(t, b, "q")
	})
}

// The queue's cap counts its messages ready, delayed and leased, not its
// dead letters, and refuses under either policy.
func TestQueueBacklogLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if err := b.SetQueueBacklogLimit(ctx, "q", 4); err != nil {
			t.Fatal(err)
		}
		deliverN(t, b, "a", 2)
		deliver(t, b, "t", "b", "later", broker.WithDelay(time.Hour))
		m := pull(t, b, "q") // leased: still counted
		deliver(t, b, "t", "c", "x")
		before := snapshot(t, b)
		requireRefused(t, b.DeliverBytes(ctx, "t", "d", []byte("x")), broker.Refusal{Queue: "q", Facet: "d", WholeQueue: true, Cap: 4})
		if after := snapshot(t, b); !maps.Equal(before, after) {
			t.Fatalf("a refused delivery changed Redis")
		}
		if err := b.Kill(ctx, m, "no"); err != nil { // a dead letter is not counted
			t.Fatal(err)
		}
		deliver(t, b, "t", "d", "x")
		if err := b.SetBacklogPolicy(ctx, "q", broker.BacklogDropOldest); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, b.DeliverBytes(ctx, "t", "a", []byte("x")), broker.Refusal{Queue: "q", Facet: "a", WholeQueue: true, Cap: 4})
		// A facet that drops one of its own for the new one adds nothing.
		setBacklogLimit(t, b, 1)
		deliver(t, b, "t", "c", "newer")
		if s := stats(t, b, "q"); s.QueueBacklogLimit != 4 || s.Ready+s.Delayed+s.InFlight != 4 || s.Dropped != 1 {
			t.Fatalf("Stats = %+v", s)
		}
		checkInvariants(t, b, "q")
	})
}

// A delivery that reaches two queues, one of them full, is queued and
// published by the other; one refused everywhere is not published.
func TestBacklogLimitFanOut(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "q", "^t$")
		register(t, b, "other", "^t")
		setBacklogLimit(t, b, 1)
		sub, err := b.Subscribe(ctx, "t*")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Close() }()
		deliver(t, b, "t", "acme", "first")
		var r broker.Receipt
		err = b.DeliverBytes(ctx, "t", "acme", []byte("second"), broker.WithReceipt(&r))
		requireRefused(t, err, broker.Refusal{Queue: "q", Facet: "acme", Cap: 1})
		if len(r.Queues) != 1 || r.Queues[0] != "other" {
			t.Fatalf("receipt %+v; want queue other only", r)
		}
		if err := b.SetBacklogLimit(ctx, "other", 2); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, b.DeliverBytes(ctx, "t", "acme", []byte("third")), // other holds first and second
			broker.Refusal{Queue: "other", Facet: "acme", Cap: 2}, broker.Refusal{Queue: "q", Facet: "acme", Cap: 1})
		deliver(t, b, "tx", "zeta", "fourth") // other only, with room
		var heard []string
		for len(heard) < 3 {
			select {
			case m := <-sub.Channel():
				heard = append(heard, string(m.Body))
			case <-time.After(waitTimeout):
				t.Fatalf("heard %v only", heard)
			}
		}
		if strings.Join(heard, ",") != "first,second,fourth" {
			t.Fatalf("subscribers heard %v; want first,second,fourth (third was refused by both queues)", heard)
		}
	})
}

// Over partitions, a facet's cap holds in its partition, the queue's cap
// is shared, and both follow a change of partition count.
func TestBacklogLimitOnPartitions(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := partitioned(t, rdb, broker.Config{DrainGrace: time.Hour}, 2)
		setBacklogLimit(t, b, 3)
		if err := b.SetFacetBacklogLimit(ctx, "q", "big", 5); err != nil {
			t.Fatal(err)
		}
		if err := b.SetQueueBacklogLimit(ctx, "q", 1); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Fatalf("a queue cap below the partition count: %v", err)
		}
		if err := b.SetQueueBacklogLimit(ctx, "q", 1000); err != nil {
			t.Fatal(err)
		}
		if err := b.SetPartitions(ctx, "q", 3); err != nil {
			t.Fatal(err)
		}
		for _, part := range partitionsOf(t, b, "q").Names {
			cfg, err := rdb.HGet(ctx, b.Namespace()+":{"+part+"}:cfg", "admit").Result()
			own, err2 := rdb.HGet(ctx, b.Namespace()+":{"+part+"}:backlogs", "big").Result()
			if err != nil || err2 != nil || cfg != "3;1000;refuse;1" || own != "5" {
				t.Fatalf("partition %s: admit %q (%v), big %q (%v)", part, cfg, err, own, err2)
			}
		}
		deliverN(t, b, "big", 5)
		deliverN(t, b, "small", 3)
		requireRefused(t, b.DeliverBytes(ctx, "t", "big", []byte("x")), broker.Refusal{Queue: "q", Facet: "big", Cap: 5})
		requireRefused(t, b.DeliverBytes(ctx, "t", "small", []byte("x")), broker.Refusal{Queue: "q", Facet: "small", Cap: 3})
		// The queue's cap of 6 over 3 partitions: 2 each.
		setBacklogLimit(t, b, 0)
		if err := b.SetQueueBacklogLimit(ctx, "q", 6); err != nil {
			t.Fatal(err)
		}
		err := b.DeliverBytes(ctx, "t", "small", []byte("x"))
		requireRefused(t, err, broker.Refusal{Queue: "q", Facet: "small", WholeQueue: true, Cap: 2})
		// More partitions than the queue's cap could share it among: refused.
		if err := b.SetPartitions(ctx, "q", 7); !errors.Is(err, broker.ErrInvalidArgument) || !strings.Contains(err.Error(), "queue backlog cap 6") {
			t.Fatalf("SetPartitions(7) under a queue cap of 6: %v; want ErrInvalidArgument", err)
		}
		if p := partitionsOf(t, b, "q"); p.Count != 3 {
			t.Fatalf("after the refused change, %d partitions; want 3", p.Count)
		}
		checkPartitions(t, rdb, b, "q")
	})
}

// A lost reply does not change what a delivery did: a call that was taken
// at the cap's last place is not refused when go-redis sends it again, a
// refused one stays refused, and a dropping one drops once.
func TestBacklogLimitAfterLostReply(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		policy broker.BacklogPolicy
	}{{"refuse", broker.BacklogRefuse}, {"drop", broker.BacklogDropOldest}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lossy, direct, p := lossyBroker(t, 200*time.Millisecond)
			if err := direct.SetBacklogLimit(ctx, "q", 2); err != nil {
				t.Fatal(err)
			}
			if err := direct.SetBacklogPolicy(ctx, "q", tc.policy); err != nil {
				t.Fatal(err)
			}
			deliverN(t, direct, "acme", 1)
			if tc.policy == broker.BacklogDropOldest {
				deliverN(t, direct, "acme", 1)
			}
			// The batch's second delivery is to another facet, so the
			// call is taken whole, or refused whole (refuse).
			p.DropNext(1)
			err := lossy.DeliverBatch(ctx, []broker.Delivery{
				{Topic: "t", Facet: "acme", Body: []byte("last")},
				{Topic: "t", Facet: "beta", Body: []byte("b")},
			})
			requireDropped(t, p, 1)
			if err != nil {
				t.Fatalf("a delivery taken at the cap's last place, its reply lost: %v", err)
			}
			s := stats(t, direct, "q")
			if s.Ready != 3 || (tc.policy == broker.BacklogDropOldest) != (s.Dropped == 1) {
				t.Fatalf("after the replayed call, Stats = %+v; want 3 ready, dropped once under drop", s)
			}
			if tc.policy == broker.BacklogRefuse {
				p.DropNext(1)
				requireRefused(t, lossy.DeliverBytes(ctx, "t", "acme", []byte("over")), broker.Refusal{Queue: "q", Facet: "acme", Cap: 2})
				requireDropped(t, p, 2)
			}
			checkInvariants(t, direct, "q")
		})
	}
}

// Bad arguments are refused and change nothing.
func TestBacklogLimitValidation(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newQueue(t, rdb, broker.Config{})
	ctx := t.Context()
	var nilCtx context.Context
	before := snapshot(t, b)
	for name, err := range map[string]error{
		"negative":          b.SetBacklogLimit(ctx, "q", -1),
		"too large":         b.SetBacklogLimit(ctx, "q", broker.MaxLimit+1),
		"bad queue":         b.SetBacklogLimit(ctx, "bad name", 1),
		"facet negative":    b.SetFacetBacklogLimit(ctx, "q", "a", -1),
		"empty facet":       b.SetFacetBacklogLimit(ctx, "q", "", 1),
		"clear empty facet": b.ClearFacetBacklogLimit(ctx, "q", ""),
		"queue negative":    b.SetQueueBacklogLimit(ctx, "q", -5),
		"bad policy":        b.SetBacklogPolicy(ctx, "q", broker.BacklogPolicy(7)),
		"nil context":       b.SetBacklogLimit(nilCtx, "q", 1),
	} {
		if !errors.Is(err, broker.ErrInvalidArgument) && !errors.Is(err, broker.ErrInvalidQueueName) && !errors.Is(err, broker.ErrInvalidFacet) {
			t.Errorf("%s: err = %v; want an invalid-argument error", name, err)
		}
	}
	for name, err := range map[string]error{
		"cap":    b.SetBacklogLimit(ctx, "nope", 1),
		"facet":  b.SetFacetBacklogLimit(ctx, "nope", "a", 1),
		"queue":  b.SetQueueBacklogLimit(ctx, "nope", 1),
		"policy": b.SetBacklogPolicy(ctx, "nope", broker.BacklogDropOldest),
	} {
		if !errors.Is(err, broker.ErrUnknownQueue) {
			t.Errorf("%s of an unknown queue: err = %v; want ErrUnknownQueue", name, err)
		}
	}
	if after := snapshot(t, b); !maps.Equal(before, after) {
		t.Fatalf("refused settings changed Redis:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := broker.ParseBacklogPolicy("keep"); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("ParseBacklogPolicy(keep) = %v", err)
	}
	for _, p := range []broker.BacklogPolicy{broker.BacklogRefuse, broker.BacklogDropOldest} {
		if got, err := broker.ParseBacklogPolicy(p.String()); err != nil || got != p {
			t.Fatalf("ParseBacklogPolicy(%q) = %v, %v", p, got, err)
		}
	}
}

// At maxmemory (noeviction), a delivery past a cap is still refused for
// its cap, as it writes nothing; one that the cap takes, or that would
// drop older messages to make room, fails with ErrRedisFull and changes
// nothing: no message is dropped for a delivery Redis then refuses.
func TestBacklogCapsAtFullRedis(t *testing.T) {
	t.Parallel()
	rdb := startFullRedis(t)
	ctx := t.Context()
	b := newBroker(t, rdb, broker.Config{})
	register(t, b, "q", "^t$")
	register(t, b, "drops", "^d$")
	if err := b.SetFacetBacklogLimit(ctx, "q", "capped", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.SetFacetBacklogLimit(ctx, "drops", "capped", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.SetBacklogPolicy(ctx, "drops", broker.BacklogDropOldest); err != nil {
		t.Fatal(err)
	}
	deliver(t, b, "t", "capped", "first")
	deliver(t, b, "d", "capped", "first")
	fillQueue(t, b)
	holdOverLimit(t, rdb)
	requireRefused(t, b.DeliverBytes(ctx, "t", "capped", []byte("second")), broker.Refusal{Queue: "q", Facet: "capped", Cap: 1})
	if err := b.DeliverBytes(ctx, "d", "capped", []byte("second")); !errors.Is(err, broker.ErrRedisFull) {
		t.Fatalf("a dropping delivery at the limit: %v; want ErrRedisFull", err)
	}
	st, err := b.Stats(ctx, "drops")
	if err != nil || st.Ready != 1 || st.Dropped != 0 || st.Dead != 0 {
		t.Fatalf("Stats(drops) = %+v, %v; want the first message kept, nothing dropped", st, err)
	}
}
