package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/hibiken/asynq"
)

// pickup settings.
const (
	pickupIdle        = 2 * time.Second
	pickupMessages    = 200
	pickupConcurrency = 10
	// pickupWait bounds how long one message may take to start.
	pickupWait = 5 * time.Second
)

// started is a handler's start.
type started struct {
	n  int
	at time.Time
}

// runPickup lets a worker pool go idle, then delivers messages one at a
// time, each after the previous one started, and measures from the start of
// the Deliver call to the start of the handler.
func runPickup(ctx context.Context, e *env) ([]result, error) {
	lat, err := pickupFairway(ctx, e, pickupIdle, pickupMessages)
	if err != nil {
		return nil, err
	}
	slices.Sort(lat)
	return []result{
		{scenario: "pickup", metric: "p50", value: ms(percentile(lat, 0.50)), unit: "ms", target: 2, atMost: true},
		{scenario: "pickup", metric: "p99", value: ms(percentile(lat, 0.99)), unit: "ms", target: 10, atMost: true},
		{scenario: "pickup", metric: "max", value: ms(lat[len(lat)-1]), unit: "ms"},
	}, nil
}

// pickupFairway starts a Fairway worker, lets it idle, and measures count
// pickups.
func pickupFairway(ctx context.Context, e *env, idle time.Duration, count int) ([]time.Duration, error) {
	f, err := newFairway(ctx, e, "pickup")
	if err != nil {
		return nil, err
	}
	defer f.close()
	starts := make(chan started, 1)
	w, err := f.startWorker(ctx, e, pickupConcurrency, func(_ context.Context, m *broker.Message) error {
		n, _ := strconv.Atoi(string(m.Body))
		starts <- started{n: n, at: time.Now()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(idle)
	lat, err := measurePickups(ctx, count, starts, func(i int) error {
		return f.b.DeliverBytes(ctx, f.queue, facetNames[i%10], []byte(strconv.Itoa(i)))
	})
	if stopErr := f.stopWorker(w); err == nil {
		err = stopErr
	}
	return lat, err
}

// pickupAsynq does what pickupFairway does with an asynq server.
func pickupAsynq(ctx context.Context, e *env, idle time.Duration, count int) ([]time.Duration, error) {
	a := newAsynq(e, "pickup", 0)
	defer a.close()
	starts := make(chan started, 1)
	srv, err := a.startServer(pickupConcurrency, func(_ context.Context, t *asynq.Task) error {
		n, _ := strconv.Atoi(string(t.Payload()))
		starts <- started{n: n, at: time.Now()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(idle)
	lat, err := measurePickups(ctx, count, starts, func(i int) error {
		return a.enqueue(ctx, []byte(strconv.Itoa(i)))
	})
	if stopErr := a.stopServer(srv); err == nil {
		err = stopErr
	}
	return lat, err
}

// measurePickups delivers count messages one at a time, each 1 to 5 ms
// after the previous one started, and returns the time from the start of
// each deliver call to the start of its handler.
func measurePickups(ctx context.Context, count int, starts <-chan started, deliver func(i int) error) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, count)
	for i := range count {
		time.Sleep(time.Millisecond + rand.N(4*time.Millisecond))
		begin := time.Now()
		if err := deliver(i); err != nil {
			return nil, err
		}
		select {
		case s := <-starts:
			if s.n != i {
				return nil, fmt.Errorf("message %d started while waiting for %d", s.n, i)
			}
			lat = append(lat, s.at.Sub(begin))
		case <-time.After(pickupWait):
			return nil, fmt.Errorf("message %d did not start within %v", i, pickupWait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return lat, nil
}

// Idle pickup, compared: a pool of pickupConcurrency idles, then messages
// come one at a time; from the start of the enqueue call to the start of
// the handler. Latencies of all rounds are pooled for the percentiles.
func pickupComparison() comparison {
	measure := func(f func(context.Context, *env, time.Duration, int) ([]time.Duration, error), count func(*env) int) measureFunc {
		return func(ctx context.Context, e *env) (measurement, error) {
			lat, err := f(ctx, e, e.sizes.pickupIdle, count(e))
			if err != nil {
				return nil, err
			}
			m := measurement{"lat": make([]float64, len(lat))}
			for i, d := range lat {
				m["lat"][i] = ms(d)
			}
			s := slices.Sorted(slices.Values(m["lat"]))
			e.note("%d pickups: p50 %s ms, p99 %s ms, max %s ms", len(s), human(percentile(s, 0.5)), human(percentile(s, 0.99)), human(s[len(s)-1]))
			return m, nil
		}
	}
	return comparison{
		name:  "pickup",
		title: "3. idle pickup",
		rows: []rowSpec{
			{key: "lat", metric: "p50, enqueue → handler start", unit: "ms", reduce: pooledPercentile(0.50), targets: []target{fairwayAtMost(2, "ms")}},
			{key: "lat", metric: "p99", unit: "ms", reduce: pooledPercentile(0.99)},
			{key: "lat", metric: "max", unit: "ms", reduce: pooledPercentile(1)},
		},
		measure: measures{
			fairwaySys: measure(pickupFairway, func(e *env) int { return e.sizes.pickupFairway }),
			asynqSys:   measure(pickupAsynq, func(e *env) int { return e.sizes.pickupAsynq }),
			riverSys:   riverPickup, bullmqSys: bullmqMeasure("pickup", func(e *env) int { return e.sizes.pickupFairway }),
		},
	}
}
