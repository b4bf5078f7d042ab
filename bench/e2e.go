package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// e2e settings.
const (
	e2eBatch       = 1000
	e2eBodyBytes   = 100
	e2eFacets      = 100
	e2eConcurrency = 50
)

// runE2E delivers n messages in batches, then has a worker handle them all
// with a no-op handler, and reports both rates.
func runE2E(ctx context.Context, e *env) ([]result, error) {
	f, err := newFairway(ctx, e, "e2e")
	if err != nil {
		return nil, err
	}
	defer f.close()
	enqueue, err := deliverAll(ctx, f.b, f.queue, e.n)
	if err != nil {
		return nil, err
	}
	var handled atomic.Int64
	done := make(chan struct{})
	cpu0, err := takeCPU(ctx, f.rdb)
	if err != nil {
		return nil, err
	}
	calls0, err := commandStats(ctx, f.rdb)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	w, err := f.startWorker(ctx, e, e2eConcurrency, func(context.Context, *broker.Message) error {
		if handled.Add(1) == int64(e.n) {
			close(done)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(10 * time.Minute):
	}
	process := time.Since(start)
	cpu1, err := takeCPU(ctx, f.rdb)
	if err != nil {
		return nil, err
	}
	calls1, err := commandStats(ctx, f.rdb)
	if err != nil {
		return nil, err
	}
	if err := f.stopWorker(w); err != nil {
		return nil, err
	}
	if got := handled.Load(); got != int64(e.n) {
		return nil, fmt.Errorf("handled %d of %d messages", got, e.n)
	}
	e.printf("e2e: delivered %d in %v, handled them in %v; meanwhile CPU: %s\n",
		e.n, enqueue.Round(time.Millisecond), process.Round(time.Millisecond), cpu1.sub(cpu0))
	calls := diff(calls1, calls0)
	delete(calls, "info")
	e.printf("e2e: Redis calls while handling, scripts' included (%.1f per message): %s\n",
		float64(total(calls))/float64(e.n), describe(calls))
	return []result{
		{scenario: "e2e", metric: "process", value: float64(e.n) / process.Seconds(), unit: "msgs/s", target: 40_000},
		{scenario: "e2e", metric: "enqueue (DeliverBatch of 1000)", value: float64(e.n) / enqueue.Seconds(), unit: "msgs/s"},
	}, nil
}

// deliverAll delivers n messages with random bodies over e2eFacets facets
// and returns how long it took.
func deliverAll(ctx context.Context, b *broker.Broker, topic string, n int) (time.Duration, error) {
	batch := make([]broker.Delivery, 0, e2eBatch)
	start := time.Now()
	for i := range n {
		body := make([]byte, e2eBodyBytes)
		_, _ = rand.Read(body)
		batch = append(batch, broker.Delivery{Topic: topic, Facet: fmt.Sprintf("facet-%03d", i%e2eFacets), Body: body})
		if len(batch) == e2eBatch || i == n-1 {
			if err := b.DeliverBatch(ctx, batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
	return time.Since(start), nil
}
