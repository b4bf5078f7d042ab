package broker_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// expiryTTL is the TTL of the messages the expiry tests let expire: short,
// so the tests wait little, and long enough that a pull right after the
// delivery comes before it on a loaded machine.
const expiryTTL = 300 * time.Millisecond

// waitExpired waits until Redis's clock has passed d from now, when every
// message delivered so far with TTL d has expired.
func waitExpired(t *testing.T, rdb redis.UniversalClient, d time.Duration) {
	t.Helper()
	waitRedisPast(t, rdb, redisNow(t, rdb).Add(d+time.Millisecond))
}

// deadReasons maps the bodies of queue's dead letters to why they died.
func deadReasons(t *testing.T, b *broker.Broker, queue string) map[string]string {
	t.Helper()
	ds, err := b.DeadLetters(t.Context(), queue, 0, 100)
	if err != nil {
		t.Fatalf("DeadLetters(%q): %v", queue, err)
	}
	out := make(map[string]string, len(ds))
	for _, d := range ds {
		out[string(d.Body)] = d.Error
	}
	return out
}

// pullBodies pulls up to n messages of queue in one PullN, acks them, and
// returns their bodies.
func pullBodies(t *testing.T, b *broker.Broker, queue string, n int) []string {
	t.Helper()
	ms, err := b.PullN(t.Context(), queue, n)
	if err != nil {
		t.Fatalf("PullN(%q, %d): %v", queue, n, err)
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, string(m.Body))
		ack(t, b, m)
	}
	slices.Sort(out)
	return out
}

// A message whose TTL passed before its turn is not handed out: it becomes
// a dead letter with the reason "expired", never attempted, and Stats
// counts it; messages without a TTL, or with one still to run, are pulled
// as ever, in the same call.
func TestExpiredAtTurn(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliver(t, b, "t", "a", "late", broker.WithTTL(expiryTTL))
		deliver(t, b, "t", "a", "plain")
		deliver(t, b, "t", "b", "long", broker.WithTTL(time.Hour))
		deliver(t, b, "t", "b", "until", broker.WithExpiry(time.Now().Add(time.Hour)))
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q") // ready with deadlines
		waitExpired(t, rdb, expiryTTL)
		if got, want := pullBodies(t, b, "q", 4), []string{"long", "plain", "until"}; !slices.Equal(got, want) {
			t.Fatalf("pulled %v, want %v", got, want)
		}
		if got := deadReasons(t, b, "q"); !maps.Equal(got, map[string]string{"late": "expired"}) {
			t.Fatalf("dead letters %v, want late, expired", got)
		}
		ds, err := b.DeadLetters(t.Context(), "q", 0, 1)
		if err != nil || len(ds) != 1 || ds[0].Attempt != 0 || ds[0].ExpiresAt.IsZero() {
			t.Fatalf("DeadLetters = %+v, %v; want the expired one, never attempted, with its deadline", ds, err)
		}
		if st := stats(t, b, "q"); st.Expired != 1 || st.Dead != 1 || st.Ready != 0 || st.ExpiryPolicy != broker.ExpireDeadLetter {
			t.Fatalf("Stats = %+v, want 1 expired, 1 dead, none ready, policy dead-letter", st)
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}

// Expired messages ahead of the queue's work never make a pull come back
// empty: the pull goes on to the next turns at once.
func TestExpiredDoNotIdle(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		for i := range 30 {
			deliver(t, b, "t", fmt.Sprintf("f%d", i), "late", broker.WithTTL(expiryTTL))
		}
		deliver(t, b, "t", "z", "live")
		waitExpired(t, rdb, expiryTTL)
		// Pull takes one turn per script call; the 30 expired turns come
		// first, and the one Pull still finds the live message.
		if m := pull(t, b, "q"); string(m.Body) != "live" {
			t.Fatalf("pulled %q, want live", m.Body)
		}
		if st := stats(t, b, "q"); st.Expired != 30 || st.Dead != 30 {
			t.Fatalf("Stats = %+v, want 30 expired and dead", st)
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}

// Under the drop policy an expired message is deleted, no dead letter, and
// still counted; switching back makes the next ones dead letters again.
func TestExpiryDropPolicy(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if err := b.SetExpiryPolicy(ctx, "q", broker.ExpireDrop); err != nil {
			t.Fatal(err)
		}
		if st := stats(t, b, "q"); st.ExpiryPolicy != broker.ExpireDrop {
			t.Fatalf("Stats.ExpiryPolicy = %v, want drop", st.ExpiryPolicy)
		}
		deliver(t, b, "t", "a", "dropped", broker.WithTTL(expiryTTL))
		deliver(t, b, "t", "a", "plain")
		waitExpired(t, rdb, expiryTTL)
		if got := pullBodies(t, b, "q", 2); !slices.Equal(got, []string{"plain"}) {
			t.Fatalf("pulled %v, want plain", got)
		}
		if st := stats(t, b, "q"); st.Expired != 1 || st.Dead != 0 || hlen(t, b, "q", "msgs") != 0 {
			t.Fatalf("Stats = %+v with %d envelopes, want 1 expired, nothing dead or kept", st, hlen(t, b, "q", "msgs"))
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
		if err := b.SetExpiryPolicy(ctx, "q", broker.ExpireDeadLetter); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t", "a", "dead", broker.WithTTL(expiryTTL))
		waitExpired(t, rdb, expiryTTL)
		pullNone(t, b, "q")
		if got := deadReasons(t, b, "q"); !maps.Equal(got, map[string]string{"dead": "expired"}) {
			t.Fatalf("dead letters %v, want dead, expired", got)
		}
		if st := stats(t, b, "q"); st.Expired != 2 || st.ExpiryPolicy != broker.ExpireDeadLetter {
			t.Fatalf("Stats = %+v, want 2 expired, policy dead-letter", st)
		}
	})
}

// A queue's default TTL applies to the deliveries that set none, on that
// queue only; a delivery's own TTL, longer or shorter, wins; removing the
// default stops later messages from expiring, and earlier ones keep their
// deadline.
func TestExpiryQueueDefault(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "withttl", ".")
		register(t, b, "plain", ".")
		if err := b.SetMessageTTL(ctx, "withttl", expiryTTL); err != nil {
			t.Fatal(err)
		}
		if st := stats(t, b, "withttl"); st.MessageTTL != expiryTTL {
			t.Fatalf("Stats.MessageTTL = %v, want %v", st.MessageTTL, expiryTTL)
		}
		if st := stats(t, b, "plain"); st.MessageTTL != 0 {
			t.Fatalf("Stats.MessageTTL of a queue without a default = %v, want 0", st.MessageTTL)
		}
		deliver(t, b, "t", "f", "none")
		deliver(t, b, "t", "f", "own long", broker.WithTTL(time.Hour))
		deliver(t, b, "t", "f", "own short", broker.WithTTL(expiryTTL))
		// Every option together: budget, TTL, delay, key.
		err := b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: "f", Body: []byte("batch"), TTL: time.Hour,
			MaxAttempts: 3, IdempotencyKey: "k", Delay: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.SetMessageTTL(ctx, "withttl", 0); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t", "f", "after")
		waitExpired(t, rdb, expiryTTL)
		want := map[string][]string{
			"withttl": {"after", "batch", "own long"},
			"plain":   {"after", "batch", "none", "own long"},
		}
		for queue, bodies := range want {
			var got []string
			testutil.Eventually(t, waitTimeout, func() bool { // batch is delayed by 1ms
				got = append(got, pullBodies(t, b, queue, 5)...)
				return len(got) >= len(bodies)
			}, "%s to give %v", queue, bodies)
			slices.Sort(got)
			if !slices.Equal(got, bodies) {
				t.Errorf("%s: pulled %v, want %v", queue, got, bodies)
			}
			testutil.RequireQueueInvariants(t, rdb, b.Namespace(), queue)
		}
		if got := deadReasons(t, b, "withttl"); !maps.Equal(got, map[string]string{"none": "expired", "own short": "expired"}) {
			t.Errorf("withttl's dead letters %v, want none and own short, expired", got)
		}
		if got := deadReasons(t, b, "plain"); !maps.Equal(got, map[string]string{"own short": "expired"}) {
			t.Errorf("plain's dead letters %v, want own short, expired", got)
		}
	})
}

// A message pulled before its deadline runs, and carries its deadline on
// Redis's clock; one without a TTL is stored as before expiry existed
// (envelope version 2) and has none.
func TestExpiryNotExpired(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		before := redisNow(t, rdb)
		deliver(t, b, "t", "f", "x", broker.WithTTL(time.Minute))
		after := redisNow(t, rdb)
		m := pull(t, b, "q")
		if m.ExpiresAt.Before(before.Add(time.Minute).Truncate(time.Millisecond)) || m.ExpiresAt.After(after.Add(time.Minute)) {
			t.Fatalf("ExpiresAt %v, want a minute after the delivery, between %v and %v on Redis's clock", m.ExpiresAt, before, after)
		}
		ack(t, b, m)
		deliver(t, b, "t", "f", "plain")
		envs, err := rdb.HVals(t.Context(), qkey(b, "q", "msgs")).Result()
		if err != nil || len(envs) != 1 || !strings.HasPrefix(envs[0], "21:f") {
			t.Fatalf("envelopes %q, %v; want one of version 2", envs, err)
		}
		if m := pull(t, b, "q"); !m.ExpiresAt.IsZero() {
			t.Fatalf("ExpiresAt %v of a message without a TTL, want zero", m.ExpiresAt)
		}
	})
}

// A delayed message whose TTL (the queue's default here: a delivery's own
// must exceed its delay) runs out before it is due expires when its turn
// comes; one due before its deadline runs.
func TestExpiryDelayed(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if err := b.SetMessageTTL(ctx, "q", expiryTTL); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t", "f", "late", broker.WithDelay(expiryTTL+200*time.Millisecond))
		deliver(t, b, "t", "f", "soon", broker.WithDelay(time.Millisecond), broker.WithTTL(time.Hour))
		waitExpired(t, rdb, expiryTTL+250*time.Millisecond) // and due
		if got := pullBodies(t, b, "q", 3); !slices.Equal(got, []string{"soon"}) {
			t.Fatalf("pulled %v, want soon", got)
		}
		if got := deadReasons(t, b, "q"); !maps.Equal(got, map[string]string{"late": "expired"}) {
			t.Fatalf("dead letters %v, want late, expired", got)
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}

// Expiry gates a message's first delivery only: once it has started, its
// retries (after a Nack) and redeliveries (after an expired lease) run
// after its deadline, until its budget is spent. A message handed back
// unstarted (Release) is as if never pulled, and expires.
func TestExpiryRetries(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{LeaseDuration: budgetLease})
		deliver(t, b, "t", "nacked", "nacked", broker.WithTTL(expiryTTL))
		deliver(t, b, "t", "lapsed", "lapsed", broker.WithTTL(expiryTTL))
		deliver(t, b, "t", "released", "released", broker.WithTTL(expiryTTL))
		ms, err := b.PullN(ctx, "q", 3)
		if err != nil || len(ms) != 3 {
			t.Fatalf("PullN = %v, %v; want all 3", ms, err)
		}
		for _, m := range ms {
			switch m.Facet {
			case "nacked":
				nack(t, b, m, 0)
			case "released":
				if err := b.Release(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		waitExpired(t, rdb, expiryTTL)
		waitRedisPast(t, rdb, ms[0].LeaseDeadline) // every lease has ended too
		got := map[string]int{}
		testutil.Eventually(t, waitTimeout, func() bool {
			ms, err := b.PullN(ctx, "q", 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				got[m.Facet] = m.Attempt
				ack(t, b, m)
			}
			return len(got) == 2
		}, "the nacked and lapsed messages to run again")
		if want := map[string]int{"nacked": 2, "lapsed": 2}; !maps.Equal(got, want) {
			t.Fatalf("ran %v (facet: attempt), want %v", got, want)
		}
		if got := deadReasons(t, b, "q"); !maps.Equal(got, map[string]string{"released": "expired"}) {
			t.Fatalf("dead letters %v, want released, expired", got)
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}

// An expired message of a facet at its in-flight limit frees the slot it
// took: the facet's next message is pulled in the same call, and the
// in-flight count stays right.
func TestExpiryInflightLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if err := b.SetInflightLimit(ctx, "q", 1); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t", "f", "late", broker.WithTTL(expiryTTL))
		deliver(t, b, "t", "f", "next")
		deliver(t, b, "t", "f", "last")
		waitExpired(t, rdb, expiryTTL)
		m := pull(t, b, "q")
		if string(m.Body) != "next" {
			t.Fatalf("pulled %q, want next", m.Body)
		}
		if fs, err := b.Facet(ctx, "q", "f"); err != nil || fs.InFlight != 1 || fs.Ready != 1 {
			t.Fatalf("Facet = %+v, %v; want 1 in flight, 1 ready", fs, err)
		}
		pullNone(t, b, "q") // at its limit
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
		ack(t, b, m)
		if m := pull(t, b, "q"); string(m.Body) != "last" {
			t.Fatalf("pulled %q, want last", m.Body)
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}

// A dead letter that expired runs once requeued: requeuing drops its
// deadline.
func TestExpiryRequeued(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		deliver(t, b, "t", "f", "late", broker.WithTTL(expiryTTL), broker.WithHeaders(map[string]string{"k": "v"}))
		waitExpired(t, rdb, expiryTTL)
		pullNone(t, b, "q")
		if n, err := b.RequeueAllDead(ctx, "q"); err != nil || n != 1 {
			t.Fatalf("RequeueAllDead = %d, %v; want 1", n, err)
		}
		m := pull(t, b, "q")
		if string(m.Body) != "late" || m.Headers["k"] != "v" || !m.ExpiresAt.IsZero() || m.Attempt != 1 {
			t.Fatalf("pulled %v, body %q, headers %v, ExpiresAt %v; want late, first attempt, with no deadline", m, m.Body, m.Headers, m.ExpiresAt)
		}
		ack(t, b, m)
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}

// A TTL, the delivery's or the queue's, is measured on Redis's clock, and
// so is WithExpiry's time once it is a TTL: with Redis an hour ahead of
// this machine or an hour behind, a message pulled at once runs, and one
// pulled after its TTL expires.
func TestExpirySkewedClock(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			srv := testutil.StartSkewedServerT(t, skew)
			rdb := srv.Client()
			t.Cleanup(func() { _ = rdb.Close() })
			b := newQueue(t, rdb, broker.Config{})
			register(t, b, "dflt", ".")
			if err := b.SetMessageTTL(t.Context(), "dflt", time.Second); err != nil {
				t.Fatal(err)
			}
			opts := map[string]broker.DeliverOption{
				"ttl":    broker.WithTTL(time.Second),
				"expiry": broker.WithExpiry(time.Now().Add(time.Second)),
			}
			for name, opt := range opts {
				deliver(t, b, "t", "f", name, opt)
			}
			// At once: nothing has expired.
			if got := pullBodies(t, b, "q", 3); !slices.Equal(got, []string{"expiry", "ttl"}) {
				t.Fatalf("pulled %v at once, want expiry and ttl", got)
			}
			if got := pullBodies(t, b, "dflt", 3); !slices.Equal(got, []string{"expiry", "ttl"}) {
				t.Fatalf("dflt: pulled %v at once, want expiry and ttl", got)
			}
			deliver(t, b, "t", "f", "ttl", opts["ttl"])
			deliver(t, b, "t", "f", "expiry", broker.WithExpiry(time.Now().Add(time.Second)))
			waitExpired(t, rdb, time.Second)
			if got := pullBodies(t, b, "q", 3); len(got) != 0 {
				t.Fatalf("pulled %v after the TTL, want nothing", got)
			}
			if got := pullBodies(t, b, "dflt", 3); len(got) != 0 {
				t.Fatalf("dflt: pulled %v after the TTL, want nothing", got)
			}
			if st := stats(t, b, "q"); st.Expired != 2 {
				t.Fatalf("Stats.Expired = %d, want 2", st.Expired)
			}
			if st := stats(t, b, "dflt"); st.Expired != 2 {
				t.Fatalf("dflt: Stats.Expired = %d, want 2", st.Expired)
			}
		})
	}
}

// The queue's TTL and policy hold on every partition, those SetPartitions
// adds too, and messages of every partition expire; Stats sums the count.
func TestExpiryPartitioned(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		// The old partitions stay while the test runs: a partition dropped
		// once drained takes its count of expired messages with it.
		b := partitioned(t, rdb, broker.Config{DrainGrace: time.Hour}, 3)
		if err := b.SetMessageTTL(ctx, "q", expiryTTL); err != nil {
			t.Fatal(err)
		}
		if err := b.SetExpiryPolicy(ctx, "q", broker.ExpireDrop); err != nil {
			t.Fatal(err)
		}
		expired := int64(0)
		check := func(when string) {
			t.Helper()
			for _, part := range partitionsOf(t, b, "q").Names {
				v, err := rdb.HMGet(ctx, qkey(b, part, "cfg"), "ttl", "expiry").Result()
				if err != nil || v[0] != "300" || v[1] != "drop" {
					t.Fatalf("%s: partition %s holds ttl, expiry %v, %v; want 300, drop", when, part, v, err)
				}
			}
			const n = 12
			for i := range n {
				deliver(t, b, "t", fmt.Sprintf("f%d", i), "late")
			}
			deliver(t, b, "t", "own", "own", broker.WithTTL(time.Hour))
			waitExpired(t, rdb, expiryTTL)
			m := eventuallyPull(t, b, "q")
			if string(m.Body) != "own" {
				t.Fatalf("%s: pulled %v, want only own", when, m)
			}
			ack(t, b, m)
			expired += n
			testutil.Eventually(t, waitTimeout, func() bool {
				pullNone(t, b, "q")
				return stats(t, b, "q").Expired == expired
			}, "%s: Stats.Expired to reach %d", when, expired)
			st := stats(t, b, "q")
			if st.MessageTTL != expiryTTL || st.ExpiryPolicy != broker.ExpireDrop || st.Dead != 0 {
				t.Fatalf("%s: Stats = %+v, want TTL %v, drop, nothing dead", when, st, expiryTTL)
			}
		}
		check("3 partitions")
		if err := b.SetPartitions(ctx, "q", 5); err != nil {
			t.Fatal(err)
		}
		check("5 partitions")
		checkPartitions(t, rdb, b, "q")
	})
}

// A TTL or expiry that a message could never be pulled within, or an
// expiry policy that is none, is refused with ErrInvalidArgument naming it,
// and nothing is written.
func TestExpiryRefused(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		before := snapshot(t, b)
		batch := func(d broker.Delivery) func() error {
			return func() error {
				d.Topic, d.Facet, d.Body = "t", "f", []byte("bad")
				return b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: "f", Body: []byte("good")}, d})
			}
		}
		opt := func(opts ...broker.DeliverOption) func() error {
			return func() error { return b.DeliverBytes(ctx, "t", "f", []byte("x"), opts...) }
		}
		calls := []struct {
			name string
			call func() error
			says string
		}{
			{"WithTTL(0)", opt(broker.WithTTL(0)), "TTL 0s is below 1ms"},
			{"WithTTL(-1s)", opt(broker.WithTTL(-time.Second)), "TTL -1s is below 1ms"},
			{"WithTTL(500µs)", opt(broker.WithTTL(500 * time.Microsecond)), "below 1ms"},
			{"WithExpiry(past)", opt(broker.WithExpiry(time.Now().Add(-time.Second))), "not in the future"},
			{"WithExpiry(zero)", opt(broker.WithExpiry(time.Time{})), "zero time"},
			{"TTL not beyond delay", opt(broker.WithTTL(time.Second), broker.WithDelay(time.Second)), "not beyond the delay"},
			{"expiry before delay", opt(broker.WithExpiry(time.Now().Add(time.Second)), broker.WithDelay(time.Minute)), "not beyond the delay"},
			{"Delivery.TTL negative", batch(broker.Delivery{TTL: -time.Millisecond}), "below 1ms"},
			{"Delivery.ExpiresAt past", batch(broker.Delivery{ExpiresAt: time.Now().Add(-time.Hour)}), "not in the future"},
			{"both", batch(broker.Delivery{TTL: time.Hour, ExpiresAt: time.Now().Add(time.Hour)}), "both TTL and ExpiresAt"},
			{"SetMessageTTL(-1s)", func() error { return b.SetMessageTTL(ctx, "q", -time.Second) }, "message TTL -1s is below 1ms"},
			{"SetMessageTTL(1µs)", func() error { return b.SetMessageTTL(ctx, "q", time.Microsecond) }, "below 1ms"},
			{"SetExpiryPolicy(7)", func() error { return b.SetExpiryPolicy(ctx, "q", 7) }, "expiry policy 7"},
		}
		for _, c := range calls {
			if err := c.call(); !errors.Is(err, broker.ErrInvalidArgument) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("%s: %v, want ErrInvalidArgument saying %q", c.name, err, c.says)
			}
		}
		for name, err := range map[string]error{
			"SetMessageTTL":   b.SetMessageTTL(ctx, "nope", time.Second),
			"SetExpiryPolicy": b.SetExpiryPolicy(ctx, "nope", broker.ExpireDrop),
		} {
			if !errors.Is(err, broker.ErrUnknownQueue) {
				t.Errorf("%s of an unknown queue: %v, want ErrUnknownQueue", name, err)
			}
		}
		if after := snapshot(t, b); !maps.Equal(before, after) {
			t.Fatalf("a refused call changed Redis:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// A queue default TTL that is not a number of ms (a foreign write to cfg)
// counts as none: messages do not expire, and stay readable.
func TestExpiryForeignDefault(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		for _, v := range []string{"x", "-2", "0", "1.5", ""} {
			if err := rdb.HSet(t.Context(), qkey(b, "q", "cfg"), "ttl", v).Err(); err != nil {
				t.Fatal(err)
			}
			deliver(t, b, "t", "f", v)
			if m := pull(t, b, "q"); string(m.Body) != v || !m.ExpiresAt.IsZero() {
				t.Fatalf("with cfg.ttl %q: pulled %v, body %q, ExpiresAt %v; want no deadline", v, m, m.Body, m.ExpiresAt)
			}
		}
	})
}
