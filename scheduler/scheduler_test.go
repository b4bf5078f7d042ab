package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func newBroker(t *testing.T, rdb redis.UniversalClient) *broker.Broker {
	t.Helper()
	b, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(t.Context(), "q", "."); err != nil {
		t.Fatal(err)
	}
	return b
}

func newScheduler(t *testing.T, b *broker.Broker, cfg Config, schs ...Schedule) *Scheduler {
	t.Helper()
	s, err := New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, sch := range schs {
		if err := s.Add(sch); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// runsIn drains queue "q" and returns the run of each message, in Unix ms.
func runsIn(t *testing.T, b *broker.Broker) []int64 {
	t.Helper()
	var out []int64
	for {
		m, err := b.Pull(t.Context(), "q")
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			slices.Sort(out)
			return out
		}
		run, err := time.Parse(time.RFC3339Nano, m.Headers[HeaderRun])
		if err != nil || m.Headers[HeaderSchedule] == "" {
			t.Fatalf("message without schedule headers: %v", m.Headers)
		}
		out = append(out, run.UnixMilli())
		if err := b.Ack(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRacingSchedulersDeliverOnce has many schedulers check the same
// schedule at the same moments, concurrently: each run is delivered once.
func TestRacingSchedulersDeliverOnce(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb)
		sch := Schedule{Name: "tick", Spec: Every(time.Minute), Topic: "tick", CatchUp: CatchUpAll}
		var ss []*Scheduler
		for range 8 {
			ss = append(ss, newScheduler(t, b, Config{}, sch))
		}
		sch = sch.withDefaults()
		start := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
		if err := b.Client().Set(t.Context(), ss[0].keys("tick")[0], start.UnixMilli(), 0).Err(); err != nil {
			t.Fatal(err)
		}
		var want []int64
		for step := range 20 {
			now := start.Add(time.Duration(step) * 45 * time.Second)
			var wg sync.WaitGroup
			for _, s := range ss {
				wg.Go(func() {
					// A run a rival holds the lock of is checked again.
					testutil.Eventually(t, 5*time.Second, func() bool {
						next, err := s.check(t.Context(), sch, now)
						if err != nil {
							t.Error(err)
						}
						return next.After(now.Add(time.Second))
					}, "the run to be delivered")
				})
			}
			wg.Wait()
			for run := Every(time.Minute).Next(start); !run.After(now); run = Every(time.Minute).Next(run) {
				if !slices.Contains(want, run.UnixMilli()) {
					want = append(want, run.UnixMilli())
				}
			}
		}
		if got := runsIn(t, b); !slices.Equal(got, want) {
			t.Fatalf("delivered runs %v, want each of %v once", got, want)
		}
	})
}

// TestClaimWithLostReply: a claim whose reply is lost after Redis took the
// lock, sent again by go-redis, is still the claimer's: the run is delivered
// at once, not after the lock expires.
func TestClaimWithLostReply(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealRedis(t)
	p := testutil.StartProxyT(t, rdb.Options().Addr)
	via := redis.NewClient(&redis.Options{Addr: p.Addr()})
	t.Cleanup(func() { _ = via.Close() })
	b := newBroker(t, rdb)
	lossy, err := broker.New(via, broker.Config{Namespace: b.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	sch := Schedule{Name: "tick", Spec: Every(time.Minute), Topic: "tick"}
	s := newScheduler(t, lossy, Config{LockTTL: time.Hour}, sch)
	sch = sch.withDefaults()
	start := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	if err := rdb.Set(t.Context(), s.keys("tick")[0], start.UnixMilli(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The claim's script is the first script call whose request names the
	// lock; loaded first, so that the call runs it rather than answer
	// NOSCRIPT.
	if err := scriptClaim.Load(t.Context(), rdb).Err(); err != nil {
		t.Fatal(err)
	}
	p.SetMatch(func(req []byte) bool {
		return testutil.MatchCommands("EVALSHA", "EVAL")(req) && strings.Contains(string(req), "}:lock")
	})
	p.DropNext(1)
	now := start.Add(45 * time.Second)
	next, err := s.check(t.Context(), sch, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Dropped() != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", p.Dropped())
	}
	if next.Before(now.Add(time.Second)) {
		t.Errorf("check asks to come back at %v: it took its own lost claim for a rival's", next)
	}
	if got, want := runsIn(t, b), []int64{start.Add(30 * time.Second).UnixMilli()}; !slices.Equal(got, want) {
		t.Errorf("delivered runs %v, want %v", got, want)
	}
}

// TestRunRacing runs several schedulers for real, every second, for a
// few seconds: consecutive runs, each delivered once.
func TestRunRacing(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb)
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for range 4 {
			s := newScheduler(t, b, Config{}, Schedule{Name: "sec", Spec: Every(time.Second), Topic: "sec"})
			wg.Go(func() { _ = s.Run(ctx) })
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			s, err := b.Stats(t.Context(), "q")
			return err == nil && s.Ready >= 3
		}, "three runs")
		cancel()
		wg.Wait()
		got := runsIn(t, b)
		for i := 1; i < len(got); i++ {
			if got[i]-got[i-1] != 1000 {
				t.Fatalf("runs %v: not each second once", got)
			}
		}
	})
}

func TestCatchUp(t *testing.T) {
	t.Parallel()
	mark := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := mark.Add(10*time.Minute + 30*time.Second) // runs at 1m .. 10m were missed
	minute := func(m ...int) []int64 {
		var out []int64
		for _, x := range m {
			out = append(out, mark.Add(time.Duration(x)*time.Minute).UnixMilli())
		}
		return out
	}
	tests := []struct {
		name     string
		policy   CatchUp
		maxCatch int
		check    time.Duration
		want     []int64
	}{
		{"last", CatchUpLast, 0, time.Minute, minute(10)},
		{"none, late", CatchUpNone, 0, 10 * time.Second, nil},
		{"none, on time", CatchUpNone, 0, time.Minute, minute(10)},
		{"all up to 3", CatchUpAll, 3, time.Minute, minute(8, 9, 10)},
		{"all", CatchUpAll, 0, time.Minute, minute(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, rdb := testutil.MiniRedis(t)
			b := newBroker(t, rdb)
			sch := Schedule{Name: "m", Spec: Every(time.Minute), Topic: "m", CatchUp: tt.policy, MaxCatchUp: tt.maxCatch}
			s := newScheduler(t, b, Config{CheckInterval: tt.check}, sch)
			if err := rdb.Set(t.Context(), s.keys("m")[0], mark.UnixMilli(), 0).Err(); err != nil {
				t.Fatal(err)
			}
			next, err := s.check(t.Context(), sch.withDefaults(), now)
			if err != nil || !next.Equal(mark.Add(11*time.Minute)) {
				t.Fatalf("check = %v, %v; want the next run at 11m", next, err)
			}
			if got := runsIn(t, b); !slices.Equal(got, tt.want) {
				t.Fatalf("delivered %v, want %v", got, tt.want)
			}
			// The missed runs are settled: checking again delivers nothing.
			if _, err := s.check(t.Context(), sch.withDefaults(), now); err != nil {
				t.Fatal(err)
			}
			if got := runsIn(t, b); len(got) != 0 {
				t.Fatalf("second check delivered %v", got)
			}
		})
	}
}

// TestNewScheduleStartsNow checks that a schedule delivers no run from
// before it first ran, and that a failed delivery is retried.
func TestNewScheduleStartsNowAndRetries(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb)
	fail := true
	sch := Schedule{Name: "b", Spec: Every(time.Minute), Build: func(_ context.Context, run time.Time) ([]broker.Delivery, error) {
		if fail {
			return nil, errors.New("boom")
		}
		return []broker.Delivery{{Topic: "x", Body: []byte(strconv.FormatInt(run.Unix(), 10))}, {Topic: "y"}}, nil
	}}
	s := newScheduler(t, b, Config{}, sch)
	sch = sch.withDefaults()
	t0 := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	if _, err := s.check(t.Context(), sch, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.check(t.Context(), sch, t0.Add(time.Minute)); err == nil {
		t.Fatal("a failed Build was not reported")
	}
	fail = false
	if _, err := s.check(t.Context(), sch, t0.Add(time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, want := runsIn(t, b), []int64{t0.Add(50 * time.Second).UnixMilli(), t0.Add(50 * time.Second).UnixMilli()}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want the run at 1m, two messages", got)
	}
}

func TestSchedulesAndList(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb)
		s := newScheduler(t, b, Config{},
			Schedule{Name: "daily", Spec: MustCron("0 3 * * *"), Topic: "report", Facet: "ops", CatchUp: CatchUpNone},
			Schedule{Name: "minutely", Spec: Every(time.Minute), Topic: "ping"},
		)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		testutil.Eventually(t, 5*time.Second, func() bool {
			all, err := List(t.Context(), b)
			return err == nil && len(all) == 2
		}, "both schedules listed")
		cancel()
		<-done
		all, err := List(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		d := all[0]
		if d.Name != "daily" || d.Spec != "0 3 * * *" || d.Location != "UTC" || d.Topic != "report" || d.Facet != "ops" ||
			d.CatchUp != CatchUpNone || d.NextRun.Hour() != 3 || d.NextRun.Before(time.Now()) || !d.LastRun.IsZero() {
			t.Errorf("daily listed as %+v", d)
		}
		if m := all[1]; m.Name != "minutely" || m.Spec != "@every 1m0s" || m.NextRun.Second() != 0 {
			t.Errorf("minutely listed as %+v", m)
		}
		mine, err := s.Schedules(t.Context())
		if err != nil || len(mine) != 2 || mine[0].Name != "daily" || !mine[0].LastRun.IsZero() {
			t.Fatalf("Schedules = %+v, %v", mine, err)
		}
		if err := Forget(t.Context(), b, "daily"); err != nil {
			t.Fatal(err)
		}
		if all, _ := List(t.Context(), b); len(all) != 1 {
			t.Fatalf("after Forget: %+v", all)
		}
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb)
	s := newScheduler(t, b, Config{})
	ok := Schedule{Name: "a", Spec: Every(time.Minute), Topic: "t"}
	for i, bad := range []Schedule{
		{Name: "", Spec: Every(time.Minute), Topic: "t"},
		{Name: "a b", Spec: Every(time.Minute), Topic: "t"},
		{Name: "a", Topic: "t"},
		{Name: "a", Spec: Every(time.Millisecond), Topic: "t"},
		{Name: "a", Spec: Every(time.Minute)},
		{Name: "a", Spec: Every(time.Minute), Topic: "t", CatchUp: 7},
		{Name: "a", Spec: Every(time.Minute), Topic: "t", MaxCatchUp: -1},
	} {
		if err := s.Add(bad); !errors.Is(err, ErrInvalidSchedule) {
			t.Errorf("%d: Add(%+v) = %v, want ErrInvalidSchedule", i, bad, err)
		}
	}
	if err := s.Add(ok); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ok); !errors.Is(err, ErrInvalidSchedule) {
		t.Errorf("second Add of %q: %v", ok.Name, err)
	}
	if _, err := New(b, Config{LockTTL: -1}); !errors.Is(err, ErrInvalidSchedule) {
		t.Errorf("New with a negative LockTTL: %v", err)
	}
	if fmt.Sprint(CatchUpLast, CatchUpNone, CatchUpAll) != "last none all" {
		t.Error("CatchUp.String")
	}
}

// TestRunRefusedByBacklogCap: a run that the queue's admission control
// refuses is reported and delivered by a later check once there is room;
// the refusal claimed no idempotency key of the run, which would have
// made the retry a duplicate and lost the run.
func TestRunRefusedByBacklogCap(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb)
		if err := b.SetBacklogLimit(ctx, "q", 1); err != nil {
			t.Fatal(err)
		}
		if err := b.DeliverBytes(ctx, "t", "tenant", []byte("queued before")); err != nil {
			t.Fatal(err)
		}
		sch := Schedule{Name: "nightly", Spec: Every(time.Minute), Topic: "t", Facet: "tenant", Body: []byte("{}")}
		s := newScheduler(t, b, Config{}, sch)
		sch = sch.withDefaults()
		t0 := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
		if _, err := s.check(ctx, sch, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.check(ctx, sch, t0.Add(time.Minute)); !errors.Is(err, broker.ErrBacklogFull) {
			t.Fatalf("a run past the facet's cap: %v; want ErrBacklogFull", err)
		}
		m, err := b.Pull(ctx, "q")
		if err != nil || m == nil {
			t.Fatalf("Pull = %v, %v", m, err)
		}
		if err := b.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, err := s.check(ctx, sch, t0.Add(time.Minute+time.Second)); err != nil {
			t.Fatalf("the retry with room: %v", err)
		}
		if got, want := runsIn(t, b), []int64{t0.Add(50 * time.Second).UnixMilli()}; !slices.Equal(got, want) {
			t.Fatalf("delivered %v, want the run at 1m once", got)
		}
	})
}
