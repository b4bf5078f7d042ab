package broker_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func setRate(t *testing.T, b *broker.Broker, facet string, r broker.RateLimit) {
	t.Helper()
	var err error
	if facet == "" {
		err = b.SetRateLimit(t.Context(), "q", r)
	} else {
		err = b.SetFacetRateLimit(t.Context(), "q", facet, r)
	}
	if err != nil {
		t.Fatalf("set rate limit of %q to %v: %v", facet, r, err)
	}
}

func facetStats(t *testing.T, b *broker.Broker, facet string) broker.FacetStats {
	t.Helper()
	fs, err := b.Facet(t.Context(), "q", facet)
	if err != nil {
		t.Fatalf("Facet(%q): %v", facet, err)
	}
	return fs
}

// pullNext pulls up to n and acks what it got.
func pullNext(t *testing.T, b *broker.Broker, n int) broker.PullResult {
	t.Helper()
	r, err := b.PullWith(t.Context(), "q", broker.PullOptions{Count: n, Lease: time.Minute})
	if err != nil {
		t.Fatalf("PullWith: %v", err)
	}
	if err := b.AckMany(t.Context(), r.Messages); err != nil {
		t.Fatalf("AckMany: %v", err)
	}
	return r
}

func TestRateLimitGivesTurnsAway(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		hour := broker.RateLimit{N: 2, Per: time.Hour, Burst: 2}
		setRate(t, b, "", hour)
		setRate(t, b, "free", broker.RateLimit{}) // exempt from the default
		deliverN(t, b, "a", 4)
		deliverN(t, b, "b", 4)
		deliverN(t, b, "free", 6)
		before := redisNow(t, rdb)

		r := pullNext(t, b, 100)
		got := map[string]int{}
		for _, m := range r.Messages {
			got[m.Facet]++
		}
		if want := map[string]int{"a": 2, "b": 2, "free": 6}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pulled %v, want %v", got, want)
		}
		// Each limited facet frees up half an hour (one interval) later.
		if d := r.NextReadyAt.Sub(before); d < 29*time.Minute || d > 31*time.Minute {
			t.Fatalf("NextReadyAt %v is %v after the pull, want 30m", r.NextReadyAt, d)
		}
		checkInvariants(t, b, "q")
		if r := pullNext(t, b, 10); len(r.Messages) != 0 || r.NextReadyAt.IsZero() {
			t.Fatalf("second pull = %d messages, next %v; want none, and a time", len(r.Messages), r.NextReadyAt)
		}
		s := stats(t, b, "q")
		if s.RateLimit != hour || s.RateLimited != 2 || s.Ready != 4 {
			t.Fatalf("stats %+v, want the default limit, 2 facets limited, 4 ready", s)
		}
		fs := facetStats(t, b, "a")
		if fs.RateLimit != hour || fs.OwnRateLimit || fs.RateLimitedUntil.Before(before.Add(29*time.Minute)) {
			t.Fatalf("facet a %+v, want the default limit and limited for 30m", fs)
		}
		if fs := facetStats(t, b, "free"); !fs.RateLimit.IsZero() || !fs.OwnRateLimit || !fs.RateLimitedUntil.IsZero() {
			t.Fatalf("facet free %+v, want its own (zero) limit", fs)
		}

		// A new delivery to a limited facet gives it a turn that is parked
		// again, not a message.
		deliverN(t, b, "a", 1)
		if r := pullNext(t, b, 10); len(r.Messages) != 0 {
			t.Fatalf("pulled %d from limited facets", len(r.Messages))
		}
		checkInvariants(t, b, "q")

		// Raising a facet's own limit frees it at once.
		setRate(t, b, "a", broker.RateLimit{N: 1000, Per: time.Second, Burst: 10})
		if got := facets(drain(t, b, "q")); !slices.Equal(got, []string{"a", "a", "a"}) {
			t.Fatalf("after raising a's limit pulled %v", got)
		}
		checkInvariants(t, b, "q")
		// Clearing the default frees b; clearing a's own leaves no limit.
		setRate(t, b, "", broker.RateLimit{})
		if err := b.ClearFacetRateLimit(t.Context(), "q", "a"); err != nil {
			t.Fatal(err)
		}
		if got := facets(drain(t, b, "q")); !slices.Equal(got, []string{"b", "b"}) {
			t.Fatalf("after clearing the default pulled %v", got)
		}
		own, err := b.FacetRateLimits(t.Context(), "q")
		if err != nil || len(own) != 1 || !own["free"].IsZero() {
			t.Fatalf("FacetRateLimits = %v, %v; want free: none", own, err)
		}
		if err := b.ClearFacetRateLimit(t.Context(), "q", "free"); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, "q")
		if s := stats(t, b, "q"); !s.RateLimit.IsZero() || s.RateLimited != 0 {
			t.Fatalf("stats after clearing %+v", s)
		}
	})
}

func TestRateLimitFreesOnTime(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		setPriority(t, b, "a", 3) // priority does not lift the limit
		setRate(t, b, "a", broker.RateLimit{N: 2, Per: 400 * time.Millisecond, Burst: 2})
		deliverN(t, b, "a", 5)
		r := pullNext(t, b, 10)
		if len(r.Messages) != 2 || r.NextReadyAt.IsZero() {
			t.Fatalf("first pull: %d messages, next %v; want the burst of 2", len(r.Messages), r.NextReadyAt)
		}
		checkInvariants(t, b, "q")
		for left := 3; left > 0; {
			waitRedisPast(t, rdb, r.NextReadyAt)
			r = pullNext(t, b, 10)
			// One interval later, one more is allowed (two if the wait
			// overran by another interval).
			if len(r.Messages) < 1 || len(r.Messages) > min(left, 2) {
				t.Fatalf("pull after the interval: %d messages, want 1", len(r.Messages))
			}
			left -= len(r.Messages)
			checkInvariants(t, b, "q")
		}
		// Drained: no turn is parked, so no wait is reported.
		if !r.NextReadyAt.IsZero() || stats(t, b, "q").RateLimited != 0 {
			t.Fatalf("drained facet still limited: next %v", r.NextReadyAt)
		}
		pullNone(t, b, "q")
	})
}

func TestRateLimitValidation(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newQueue(t, rdb, broker.Config{})
	ctx := t.Context()
	for _, r := range []broker.RateLimit{
		{N: -1, Per: time.Second},
		{N: 1},
		{N: 1, Per: time.Microsecond},
		{N: 1, Per: -time.Second},
		{N: 1, Per: broker.MaxRateLimitPer + time.Hour},
		{N: broker.MaxRateLimitN + 1, Per: time.Second},
		{N: 2, Per: time.Second, Burst: 3},
		{N: 2, Per: time.Second, Burst: -1},
		{Per: time.Second},
	} {
		if err := b.SetRateLimit(ctx, "q", r); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("SetRateLimit(%+v) = %v, want ErrInvalidArgument", r, err)
		}
		if err := b.SetFacetRateLimit(ctx, "q", "a", r); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("SetFacetRateLimit(%+v) = %v, want ErrInvalidArgument", r, err)
		}
	}
	ok := broker.RateLimit{N: 1, Per: time.Second}
	for name, err := range map[string]error{
		"unknown queue": b.SetRateLimit(ctx, "nope", ok),
		"bad queue":     b.SetRateLimit(ctx, "a b", ok),
		"empty facet":   b.SetFacetRateLimit(ctx, "q", "", ok),
		"clear unknown": b.ClearFacetRateLimit(ctx, "nope", "a"),
	} {
		want := map[string]error{
			"unknown queue": broker.ErrUnknownQueue, "bad queue": broker.ErrInvalidQueueName,
			"empty facet": broker.ErrInvalidFacet, "clear unknown": broker.ErrUnknownQueue,
		}[name]
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	if s := fmt.Sprint(broker.RateLimit{N: 5, Per: time.Second}, broker.RateLimit{N: 5, Per: time.Second, Burst: 2}, broker.RateLimit{}); s != "5/1s 5/1s,2 off" {
		t.Errorf("String: %q", s)
	}
}

// TestRateLimitShares runs a consumer for a few seconds on three facets
// limited to 5 a second and one unlimited: each limited facet gets 5 a
// second (never more in any second, at most one fewer), and the unlimited
// one takes every other turn.
func TestRateLimitShares(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		const periods, perPeriod = 3, 5
		b := newQueue(t, rdb, broker.Config{})
		setRate(t, b, "", broker.RateLimit{N: perPeriod, Per: time.Second})
		setRate(t, b, "free", broker.RateLimit{})
		limited := []string{"a", "b", "c"}
		var batch []broker.Delivery
		for i := range 60 {
			for _, f := range limited {
				batch = append(batch, broker.Delivery{Topic: "t", Facet: f, Body: []byte(fmt.Sprint(i))})
			}
		}
		for i := range 2000 {
			batch = append(batch, broker.Delivery{Topic: "t", Facet: "free", Body: []byte(fmt.Sprint(i))})
		}
		if err := b.DeliverBatch(t.Context(), batch); err != nil {
			t.Fatal(err)
		}

		// Pull times on Redis's clock: a lease's deadline less its length.
		times := map[string][]time.Time{}
		var start time.Time
		for {
			r, err := b.PullWith(t.Context(), "q", broker.PullOptions{Count: 8, Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if start.IsZero() {
				start = r.Now
			}
			if r.Now.Sub(start) >= periods*time.Second {
				_ = b.AckMany(t.Context(), r.Messages)
				break
			}
			for _, m := range r.Messages {
				times[m.Facet] = append(times[m.Facet], m.LeaseDeadline.Add(-time.Minute))
			}
			if err := b.AckMany(t.Context(), r.Messages); err != nil {
				t.Fatal(err)
			}
			if len(r.Messages) == 0 {
				time.Sleep(min(max(r.NextReadyAt.Sub(r.Now), time.Millisecond), 50*time.Millisecond)) // as a worker waits
			}
		}
		checkInvariants(t, b, "q")
		for _, f := range limited {
			ts := times[f]
			// Never more than perPeriod in any window of a period.
			for i := perPeriod; i < len(ts); i++ {
				if d := ts[i].Sub(ts[i-perPeriod]); d < time.Second {
					t.Errorf("facet %s: %d pulls within %v", f, perPeriod+1, d)
				}
			}
			for p := range periods {
				from, to := start.Add(time.Duration(p)*time.Second), start.Add(time.Duration(p+1)*time.Second)
				n := 0
				for _, tm := range ts {
					if !tm.Before(from) && tm.Before(to) {
						n++
					}
				}
				if n < perPeriod-1 || n > perPeriod+1 {
					t.Errorf("facet %s: %d pulls in second %d, want %d±1", f, n, p, perPeriod)
				}
			}
		}
		// The unlimited facet took the rest: everything, or far more than
		// the limited ones.
		if n := len(times["free"]); n < 2000 && n < 10*periods*perPeriod {
			t.Errorf("the unlimited facet got only %d", n)
		}
		t.Logf("pulls: a %d, b %d, c %d, free %d", len(times["a"]), len(times["b"]), len(times["c"]), len(times["free"]))
	})
}

// TestRateLimitRandomOps mixes rate-limit changes with every other
// operation at random and checks the queue's invariants after each step:
// no facet with work is left without a turn or a parked one, and no
// message is lost.
func TestRateLimitRandomOps(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		ctx := t.Context()
		rng := rand.New(rand.NewPCG(7, 8))
		fs := []string{"a", "b", "c", "d"}
		limits := []broker.RateLimit{
			{}, {N: 1, Per: time.Hour}, {N: 3, Per: time.Hour, Burst: 2},
			{N: 1, Per: 5 * time.Millisecond}, {N: 2, Per: 10 * time.Millisecond, Burst: 2},
		}
		var held []*broker.Message
		steps := 400
		if testing.Short() {
			steps = 100
		}
		for step := range steps {
			f := fs[rng.IntN(len(fs))]
			var err error
			switch op := rng.IntN(12); {
			case op < 3:
				deliverN(t, b, f, 1+rng.IntN(3))
			case op < 6:
				var r broker.PullResult
				r, err = b.PullWith(ctx, "q", broker.PullOptions{Count: 1 + rng.IntN(4), Lease: time.Minute})
				held = append(held, r.Messages...)
			case op < 8 && len(held) > 0:
				i := rng.IntN(len(held))
				if rng.IntN(2) == 0 {
					err = b.Ack(ctx, held[i])
				} else {
					err = b.Nack(ctx, held[i], 0)
				}
				held = slices.Delete(held, i, i+1)
			case op == 8:
				err = b.SetRateLimit(ctx, "q", limits[rng.IntN(len(limits))])
			case op == 9:
				if rng.IntN(3) == 0 {
					err = b.ClearFacetRateLimit(ctx, "q", f)
				} else {
					err = b.SetFacetRateLimit(ctx, "q", f, limits[rng.IntN(len(limits))])
				}
			case op == 10:
				err = b.SetFacetPriority(ctx, "q", f, rng.IntN(3))
			case op == 11:
				if rng.IntN(2) == 0 {
					err = b.PauseFacet(ctx, "q", f)
				} else {
					err = b.ResumeFacet(ctx, "q", f)
				}
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			checkInvariants(t, b, "q")
		}
	})
}
