package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// pickup settings.
const (
	pickupIdle     = 2 * time.Second
	pickupMessages = 200
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
	f, err := newFairway(ctx, e, "pickup")
	if err != nil {
		return nil, err
	}
	defer f.close()
	starts := make(chan started, 1)
	w, err := f.startWorker(ctx, e, 10, func(_ context.Context, m *broker.Message) error {
		n, _ := strconv.Atoi(string(m.Body))
		starts <- started{n: n, at: time.Now()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(pickupIdle)
	lat, err := measurePickups(ctx, f, starts)
	if stopErr := f.stopWorker(w); err == nil {
		err = stopErr
	}
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

func measurePickups(ctx context.Context, f *fairwaySetup, starts <-chan started) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, pickupMessages)
	for i := range pickupMessages {
		time.Sleep(time.Millisecond + rand.N(4*time.Millisecond))
		begin := time.Now()
		if err := f.b.DeliverBytes(ctx, f.queue, "facet-"+strconv.Itoa(i%10), []byte(strconv.Itoa(i))); err != nil {
			return nil, err
		}
		select {
		case s := <-starts:
			if s.n != i {
				return nil, fmt.Errorf("message %d started while waiting for %d", s.n, i)
			}
			lat = append(lat, s.at.Sub(begin))
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("message %d did not start within 5s", i)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return lat, nil
}

// percentile is the p-th quantile of sorted, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
