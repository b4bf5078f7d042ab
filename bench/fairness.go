package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/hibiken/asynq"
)

// Fairness: one big tenant enqueues fairBig messages, then fairTenants small
// tenants enqueue fairEach each, tenant after tenant; then one worker
// process at Concurrency fairConcurrency handles them all with a no-op
// handler. Each handler that ends takes the next position (1 for the first
// to finish); the figures are the positions of the small tenants' messages.
// Fairway puts each tenant in a facet of one queue; asynq, which has no
// tenants, has one queue, first in first out.
const (
	fairConcurrency = 10
	fairBigTenant   = "big"
	fairLimit       = 5 * time.Minute
)

// fairBody is a 100-byte body that starts with the tenant's name, for asynq,
// whose tasks have no facet.
func fairBody(tenant string) []byte {
	b := bytes.Repeat([]byte("."), 100)
	copy(b, tenant+" ")
	return b
}

func smallTenant(i int) string { return fmt.Sprintf("small-%03d", i) }

func fairnessComparison() comparison {
	return comparison{
		name:  "fairness",
		title: "5. fairness",
		rows: []rowSpec{
			{key: "pos", metric: "small tenants' messages: finish position, p50", reduce: pooledPercentile(0.50)},
			{key: "pos", metric: "p99", reduce: pooledPercentile(0.99)},
			{key: "pos", metric: "max (all done by)", reduce: pooledPercentile(1), targets: []target{fairwayAtMost(1100, "")}},
		},
		measure: measures{
			fairwaySys: func(ctx context.Context, e *env) (measurement, error) {
				f, err := newFairway(ctx, e, "fairness")
				if err != nil {
					return nil, err
				}
				defer f.close()
				s := e.sizes
				big := make([]broker.Delivery, s.fairBig)
				for i := range big {
					big[i] = broker.Delivery{Topic: f.queue, Facet: fairBigTenant, Body: fairBody(fairBigTenant)}
				}
				for chunk := range slices.Chunk(big, e2eBatch) {
					if err := f.b.DeliverBatch(ctx, chunk); err != nil {
						return nil, err
					}
				}
				for t := range s.fairTenants {
					small := make([]broker.Delivery, s.fairEach)
					for i := range small {
						small[i] = broker.Delivery{Topic: f.queue, Facet: smallTenant(t), Body: fairBody(smallTenant(t))}
					}
					if err := f.b.DeliverBatch(ctx, small); err != nil {
						return nil, err
					}
				}
				p := newPositions(s)
				w, err := f.startWorker(ctx, e, fairConcurrency, func(_ context.Context, m *broker.Message) error {
					p.finished(m.Facet != fairBigTenant)
					return nil
				})
				if err != nil {
					return nil, err
				}
				err = p.wait(ctx)
				if stopErr := f.stopWorker(w); err == nil {
					err = stopErr
				}
				if err != nil {
					return nil, err
				}
				return p.measurement(e)
			},
			asynqSys: func(ctx context.Context, e *env) (measurement, error) {
				a := newAsynq(e, "fairness", 0)
				defer a.close()
				s := e.sizes
				bigBody := fairBody(fairBigTenant)
				if _, err := a.enqueueAll(ctx, s.fairBig, enqueueGoroutines, func(int) []byte { return bigBody }); err != nil {
					return nil, err
				}
				for t := range s.fairTenants {
					for range s.fairEach {
						if err := a.enqueue(ctx, fairBody(smallTenant(t))); err != nil {
							return nil, err
						}
					}
				}
				p := newPositions(s)
				srv, err := a.startServer(fairConcurrency, func(_ context.Context, t *asynq.Task) error {
					p.finished(!strings.HasPrefix(string(t.Payload()), fairBigTenant+" "))
					return nil
				})
				if err != nil {
					return nil, err
				}
				err = p.wait(ctx)
				if stopErr := a.stopServer(srv); err == nil {
					err = stopErr
				}
				if err != nil {
					return nil, err
				}
				return p.measurement(e)
			},
			riverSys: riverFairness, bullmqSys: bullmqMeasure("fairness", func(e *env) int { return e.sizes.fairBig }), ceilingSys: ceilingFairness,
		},
	}
}

// positions records the order in which handlers finish.
type positions struct {
	total int
	n     atomic.Int64
	done  chan struct{}
	mu    sync.Mutex
	small []float64 // positions of the small tenants' messages
}

func newPositions(s compareSizes) *positions {
	return &positions{total: s.fairBig + s.fairTenants*s.fairEach, done: make(chan struct{})}
}

// finished takes the next position for a handler that ends.
func (p *positions) finished(small bool) {
	pos := p.n.Add(1)
	if small {
		p.mu.Lock()
		p.small = append(p.small, float64(pos))
		p.mu.Unlock()
	}
	if pos == int64(p.total) {
		close(p.done)
	}
}

func (p *positions) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(fairLimit):
		return errors.New("not all messages were handled in time")
	}
}

func (p *positions) measurement(e *env) (measurement, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := slices.Sorted(slices.Values(p.small))
	if want := e.sizes.fairTenants * e.sizes.fairEach; len(s) != want {
		return nil, fmt.Errorf("%d small tenants' messages handled, want %d", len(s), want)
	}
	e.note("small tenants' messages finished at positions %s to %s of %s (p50 %s, p99 %s)",
		count(int(s[0])), count(int(s[len(s)-1])), count(p.total), human(percentile(s, 0.5)), human(percentile(s, 0.99)))
	return measurement{"pos": s}, nil
}
