package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/hibiken/asynq"
)

// e2e settings.
const (
	e2eBatch       = 1000
	e2eFacets      = benchFacets
	e2eConcurrency = 50
	// e2eLimit bounds how long processing may take.
	e2eLimit = 10 * time.Minute
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
	case <-time.After(e2eLimit):
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

// deliverAll delivers n messages of a 100-byte body over e2eFacets facets
// in batches of e2eBatch, and returns how long it took.
func deliverAll(ctx context.Context, b *broker.Broker, topic string, n int) (time.Duration, error) {
	batch := make([]broker.Delivery, 0, e2eBatch)
	start := time.Now()
	for i := range n {
		batch = append(batch, broker.Delivery{Topic: topic, Facet: facetNames[i%e2eFacets], Body: body100})
		if len(batch) == e2eBatch || i == n-1 {
			if err := b.DeliverBatch(ctx, batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
	return time.Since(start), nil
}

// End to end, compared: each library enqueues N messages by its batch path
// (Fairway DeliverBatch of e2eBatch, asynq asynqBatchGoroutines concurrent
// Enqueue calls), then one worker process handles them all with a no-op
// handler at Concurrency e2eConcurrency. Processing is timed from the start
// of the worker to the moment every message is acknowledged (Fairway: none
// ready or leased; asynq: none pending or active).
func e2eComparison() comparison {
	return comparison{
		name:  "e2e",
		title: "2. end to end",
		rows: []rowSpec{
			{key: "process", metric: fmt.Sprintf("process N, no-op handler, Concurrency %d", e2eConcurrency), unit: "msgs/s", targets: []target{
				ratioAtLeast(asynqSys, 4), ratioAtLeast(asynqSys, 6), aheadOf(riverSys), aheadOf(bullmqSys), ratioAtLeast(ceilingSys, 0.7),
			}},
			{key: "enqueue", metric: "enqueue N (batch path)", unit: "msgs/s"},
			{key: "overall", metric: "enqueue N, then process them: overall", unit: "msgs/s"},
			{key: "cmds", metric: "Redis commands per message while processing (scripts' inner calls included)", unit: "cmds", targets: []target{fairwayAtMost(8, "cmds")}},
			{key: "redisus", metric: "Redis time per message while processing (main thread CPU)", unit: "µs"},
		},
		measure: measures{
			fairwaySys: func(ctx context.Context, e *env) (measurement, error) {
				f, err := newFairway(ctx, e, "e2e")
				if err != nil {
					return nil, err
				}
				defer f.close()
				n := e.sizes.e2e
				enqueue, err := deliverAll(ctx, f.b, f.queue, n)
				if err != nil {
					return nil, err
				}
				var handled atomic.Int64
				done := make(chan struct{})
				return processAll(ctx, e, n, enqueue, f.unfinished,
					func() (func() error, error) {
						w, err := f.startWorker(ctx, e, e2eConcurrency, func(context.Context, *broker.Message) error {
							if handled.Add(1) == int64(n) {
								close(done)
							}
							return nil
						})
						return func() error { return f.stopWorker(w) }, err
					}, done)
			},
			asynqSys: func(ctx context.Context, e *env) (measurement, error) {
				a := newAsynq(e, "e2e", e.sizes.asynqEnqueuers)
				defer a.close()
				n := e.sizes.e2e
				enqueue, err := a.enqueueAll(ctx, n, e.sizes.asynqEnqueuers, func(int) []byte { return body100 })
				if err != nil {
					return nil, err
				}
				var handled atomic.Int64
				done := make(chan struct{})
				return processAll(ctx, e, n, enqueue, a.unfinished,
					func() (func() error, error) {
						srv, err := a.startServer(e2eConcurrency, func(context.Context, *asynq.Task) error {
							if handled.Add(1) == int64(n) {
								close(done)
							}
							return nil
						})
						return func() error { return a.stopServer(srv) }, err
					}, done)
			},
			riverSys: riverE2E, bullmqSys: bullmqMeasure("e2e", func(e *env) int { return e.sizes.e2e }), ceilingSys: ceilingE2E,
		},
	}
}

// processAll starts a worker, waits until its handlers have seen n messages
// (done) and none is left unfinished, stops it, and returns the rates.
func processAll(ctx context.Context, e *env, n int, enqueue time.Duration,
	unfinished func(context.Context) (int64, error), start func() (stop func() error, err error), done <-chan struct{},
) (measurement, error) {
	u, err := startUsage(ctx, e)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	stop, err := start()
	if err != nil {
		return nil, err
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(e2eLimit):
	}
	drained, err := waitFor(ctx, time.Minute, func() (bool, error) {
		left, err := unfinished(ctx)
		return left == 0, err
	})
	process := time.Since(begin)
	if err == nil && !drained {
		err = errors.New("messages still unfinished a minute after the last handler")
	}
	if err != nil {
		_ = stop()
		return nil, err
	}
	usage, err := u.stop(ctx, n)
	if err != nil {
		return nil, err
	}
	if err := stop(); err != nil {
		return nil, err
	}
	e.note("enqueued %d in %v, processed them in %v; while processing, %s",
		n, enqueue.Round(time.Millisecond), process.Round(time.Millisecond), usage)
	return measurement{
		"process": {float64(n) / process.Seconds()},
		"enqueue": {float64(n) / enqueue.Seconds()},
		"overall": {float64(n) / (enqueue + process).Seconds()},
		"cmds":    {u.cmdsPerMsg},
		"redisus": {u.mainMicrosPerMsg},
	}, nil
}
