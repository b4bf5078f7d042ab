package main

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The ceiling's runs of the comparison's scenarios: the same sizes,
// bodies, facets, goroutines and concurrency as Fairway's.

func ceilingEnqueueSingle(ctx context.Context, e *env) (measurement, error) {
	c := newCeiling(e, "enqueue")
	defer c.close()
	n := e.sizes.enqueueSingle
	return enqueued(ctx, e, n, c.ready, func() (time.Duration, error) {
		return parallel(ctx, n, enqueueGoroutines, func(ctx context.Context, i int) error {
			return c.enqueue(ctx, []ceilingMessage{{facet: facetNames[i%benchFacets], body: body100}})
		})
	})
}

func ceilingEnqueueBatch(ctx context.Context, e *env) (measurement, error) {
	c := newCeiling(e, "batch")
	defer c.close()
	batch := make([]ceilingMessage, enqueueBatchSize)
	for i := range batch {
		batch[i] = ceilingMessage{facet: facetNames[i%benchFacets], body: body100}
	}
	calls := e.sizes.enqueueBatch / enqueueBatchSize
	return enqueued(ctx, e, calls*enqueueBatchSize, c.ready, func() (time.Duration, error) {
		return parallel(ctx, calls, enqueueBatchGoroutines, func(ctx context.Context, _ int) error {
			return c.enqueue(ctx, batch)
		})
	})
}

// ceilingFill queues n messages of a 100-byte body over benchFacets facets
// in batches of e2eBatch, like deliverAll, and returns how long it took.
func ceilingFill(ctx context.Context, c *ceilingQueue, n int) (time.Duration, error) {
	start := time.Now()
	batch := make([]ceilingMessage, 0, e2eBatch)
	for i := range n {
		batch = append(batch, ceilingMessage{facet: facetNames[i%benchFacets], body: body100})
		if len(batch) == e2eBatch || i == n-1 {
			if err := c.enqueue(ctx, batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
	return time.Since(start), nil
}

func ceilingE2E(ctx context.Context, e *env) (measurement, error) {
	c := newCeiling(e, "e2e")
	defer c.close()
	n := e.sizes.e2e
	enqueue, err := ceilingFill(ctx, c, n)
	if err != nil {
		return nil, err
	}
	var handled atomic.Int64
	done := make(chan struct{})
	return processAll(ctx, e, n, enqueue, c.unfinished, func() (func() error, error) {
		w := startCeilingWorker(c, e2eConcurrency, func(ceilingPulled) {
			if handled.Add(1) == int64(n) {
				close(done)
			}
		})
		return w.stop, nil
	}, done)
}

func ceilingMemory(ctx context.Context, e *env) (measurement, error) {
	return measureMemory(ctx, e, e.sizes.memory, explainCeilingMemory, func(n int) (int64, error) {
		c := newCeiling(e, "memory")
		defer c.close()
		if _, err := ceilingFill(ctx, c, n); err != nil {
			return 0, err
		}
		return c.ready(ctx)
	})
}

// explainCeilingMemory gives the facets' lists' MEMORY USAGE per message.
func explainCeilingMemory(ctx context.Context, rdb *redis.Client, n int) (string, error) {
	var lists int64
	iter := rdb.Scan(ctx, 0, "ceil:{memory}:f:*", 1000).Iterator()
	for iter.Next(ctx) {
		used, err := rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
		if err != nil {
			return "", err
		}
		lists += used
	}
	if err := iter.Err(); err != nil {
		return "", err
	}
	return fmt.Sprintf("MEMORY USAGE per message: facet lists %.1f bytes", float64(lists)/float64(n)), nil
}

func ceilingFairness(ctx context.Context, e *env) (measurement, error) {
	c := newCeiling(e, "fairness")
	defer c.close()
	s := e.sizes
	big := make([]ceilingMessage, s.fairBig)
	for i := range big {
		big[i] = ceilingMessage{facet: fairBigTenant, body: fairBody(fairBigTenant)}
	}
	for chunk := range slices.Chunk(big, e2eBatch) {
		if err := c.enqueue(ctx, chunk); err != nil {
			return nil, err
		}
	}
	for t := range s.fairTenants {
		small := make([]ceilingMessage, s.fairEach)
		for i := range small {
			small[i] = ceilingMessage{facet: smallTenant(t), body: fairBody(smallTenant(t))}
		}
		if err := c.enqueue(ctx, small); err != nil {
			return nil, err
		}
	}
	p := newPositions(s)
	w := startCeilingWorker(c, fairConcurrency, func(m ceilingPulled) { p.finished(m.facet != fairBigTenant) })
	err := p.wait(ctx)
	if stopErr := w.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	return p.measurement(e)
}
