package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// Enqueue throughput: how fast each library queues 100-byte messages, one
// per call from enqueueGoroutines goroutines, and by its fastest path for
// many messages at hand.
//
// asynq has no batch API and its Client offers no pipelining; its
// documented way to enqueue much at once is many concurrent Enqueue calls on
// one Client (safe for concurrent use), so its batch path is
// asynqBatchGoroutines goroutines on a pool of as many connections.
// Fairway's is DeliverBatch of enqueueBatchSize messages from
// enqueueBatchGoroutines goroutines.
const (
	enqueueGoroutines      = 20
	enqueueBatchSize       = 100
	enqueueBatchGoroutines = 4
	asynqBatchGoroutines   = 100
	// benchFacets is how many facets (tenants) Fairway's messages are spread
	// over, round-robin, wherever the scenario does not say otherwise.
	benchFacets = 100
)

// body100 is the body of every message the comparison enqueues.
var body100 = bytes.Repeat([]byte("x"), 100)

// facetNames are the names of the benchFacets facets.
var facetNames = func() []string {
	out := make([]string, benchFacets)
	for i := range out {
		out[i] = fmt.Sprintf("tenant-%03d", i)
	}
	return out
}()

func enqueueSingleComparison() comparison {
	return comparison{
		name:  "enqueue",
		title: "1. enqueue, single",
		rows: []rowSpec{{
			key: "rate", metric: strconv.Itoa(enqueueGoroutines) + " goroutines, one message per call", unit: "msgs/s",
			targets: []target{ratioAtLeast(asynqSys, 1), ratioAtLeast(asynqSys, 1.5)},
		}},
		measure: measures{
			fairwaySys: func(ctx context.Context, e *env) (measurement, error) {
				f, err := newFairway(ctx, e, "enqueue")
				if err != nil {
					return nil, err
				}
				defer f.close()
				n := e.sizes.enqueueSingle
				return enqueued(ctx, e, n, f.ready, func() (time.Duration, error) {
					return parallel(ctx, n, enqueueGoroutines, func(ctx context.Context, i int) error {
						return f.b.DeliverBytes(ctx, f.queue, facetNames[i%benchFacets], body100)
					})
				})
			},
			asynqSys: func(ctx context.Context, e *env) (measurement, error) {
				a := newAsynq(e, "enqueue", 0)
				defer a.close()
				n := e.sizes.enqueueSingle
				return enqueued(ctx, e, n, a.pending, func() (time.Duration, error) {
					return a.enqueueAll(ctx, n, enqueueGoroutines, func(int) []byte { return body100 })
				})
			},
			riverSys:   riverEnqueueSingle,
			bullmqSys:  bullmqMeasure("enqueue", func(e *env) int { return e.sizes.enqueueSingle }),
			ceilingSys: ceilingEnqueueSingle,
		},
	}
}

func enqueueBatchComparison(s compareSizes) comparison {
	return comparison{
		name:  "batch",
		title: "1. enqueue, batched",
		rows: []rowSpec{{
			key: "rate", unit: "msgs/s",
			metric: fmt.Sprintf("Fairway, ceiling: batches of %d ×%d goroutines; River InsertMany(%d), BullMQ addBulk(%d); asynq Enqueue ×%d goroutines",
				enqueueBatchSize, enqueueBatchGoroutines, enqueueBatchSize, enqueueBatchSize, s.asynqEnqueuers),
			targets: []target{ratioAtLeast(asynqSys, 3)},
		}},
		measure: measures{
			fairwaySys: func(ctx context.Context, e *env) (measurement, error) {
				f, err := newFairway(ctx, e, "batch")
				if err != nil {
					return nil, err
				}
				defer f.close()
				batch := make([]broker.Delivery, enqueueBatchSize)
				for i := range batch {
					batch[i] = broker.Delivery{Topic: f.queue, Facet: facetNames[i%benchFacets], Body: body100}
				}
				calls := e.sizes.enqueueBatch / enqueueBatchSize
				return enqueued(ctx, e, calls*enqueueBatchSize, f.ready, func() (time.Duration, error) {
					return parallel(ctx, calls, enqueueBatchGoroutines, func(ctx context.Context, _ int) error {
						return f.b.DeliverBatch(ctx, batch)
					})
				})
			},
			asynqSys: func(ctx context.Context, e *env) (measurement, error) {
				a := newAsynq(e, "batch", e.sizes.asynqEnqueuers)
				defer a.close()
				n := e.sizes.enqueueBatch
				return enqueued(ctx, e, n, a.pending, func() (time.Duration, error) {
					return a.enqueueAll(ctx, n, e.sizes.asynqEnqueuers, func(int) []byte { return body100 })
				})
			},
			riverSys:   riverEnqueueBatch,
			bullmqSys:  bullmqMeasure("batch", func(e *env) int { return e.sizes.enqueueBatch }),
			ceilingSys: ceilingEnqueueBatch,
		},
	}
}

// enqueued runs enqueue, which queues n messages and returns how long it
// took, checks that n messages wait in the queue, and returns the rate. It
// notes the CPU that Redis and this process used, and the commands Redis
// ran, per message.
func enqueued(ctx context.Context, e *env, n int, count func(context.Context) (int64, error), enqueue func() (time.Duration, error)) (measurement, error) {
	u, err := startUsage(ctx, e)
	if err != nil {
		return nil, err
	}
	took, err := enqueue()
	if err != nil {
		return nil, err
	}
	usage, err := u.stop(ctx, n)
	if err != nil {
		return nil, err
	}
	queued, err := count(ctx)
	if err != nil {
		return nil, err
	}
	if queued != int64(n) {
		return nil, fmt.Errorf("%d messages queued, want %d", queued, n)
	}
	rate := float64(n) / took.Seconds()
	e.note("%d messages in %v: %s msgs/s; %s", n, took.Round(time.Millisecond), human(rate), usage)
	return measurement{"rate": {rate}}, nil
}
