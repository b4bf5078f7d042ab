package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynqTaskType is the type name of every asynq task the benchmark enqueues.
const asynqTaskType = "bench"

// asynqSetup is an asynq client on the benchmark's server for one queue.
// asynq is used as its documentation shows, with its defaults, except the
// settings each scenario names (queue, Concurrency, log level).
type asynqSetup struct {
	rdb    *redis.Client
	client *asynq.Client
	queue  string
}

// newAsynq returns a client for queue on a go-redis client like Fairway's
// (default options), or with a pool of poolSize connections if it is above 0.
func newAsynq(e *env, queue string, poolSize int) *asynqSetup {
	rdb := e.srv.client()
	if poolSize > 0 {
		rdb = e.srv.clientPool(poolSize)
	}
	return &asynqSetup{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), queue: queue}
}

// close closes the go-redis client; asynq does not own it (a shared
// connection), so its Client needs no Close.
func (a *asynqSetup) close() { _ = a.rdb.Close() }

// enqueue enqueues one task with payload, as asynq's README does.
func (a *asynqSetup) enqueue(ctx context.Context, payload []byte) error {
	_, err := a.client.EnqueueContext(ctx, asynq.NewTask(asynqTaskType, payload), asynq.Queue(a.queue))
	return err
}

// enqueueAll enqueues n tasks from g goroutines (asynq has no batch API;
// its Client is safe for concurrent use) and returns how long it took.
func (a *asynqSetup) enqueueAll(ctx context.Context, n, g int, payload func(i int) []byte) (time.Duration, error) {
	return parallel(ctx, n, g, func(ctx context.Context, i int) error {
		return a.enqueue(ctx, payload(i))
	})
}

// startServer starts an asynq server with concurrency workers on the
// queue, running h. asynq's other settings keep their defaults (one-second
// TaskCheckInterval, 5 s heartbeat and forwarder, ...).
func (a *asynqSetup) startServer(concurrency int, h asynq.HandlerFunc) (*asynq.Server, error) {
	srv := asynq.NewServerFromRedisClient(a.rdb, asynq.Config{
		Concurrency: concurrency,
		Queues:      map[string]int{a.queue: 1},
		LogLevel:    asynq.WarnLevel,
	})
	if err := srv.Start(h); err != nil {
		return nil, err
	}
	return srv, nil
}

// stopServer shuts srv down and checks that the queue is empty.
func (a *asynqSetup) stopServer(srv *asynq.Server) error {
	srv.Shutdown()
	ins := asynq.NewInspectorFromRedisClient(a.rdb)
	queues, err := ins.Queues()
	if err != nil {
		return fmt.Errorf("asynq queues: %w", err)
	}
	if !slices.Contains(queues, a.queue) {
		return nil // nothing was ever enqueued
	}
	info, err := ins.GetQueueInfo(a.queue)
	if err != nil {
		return fmt.Errorf("asynq queue info: %w", err)
	}
	if info.Pending+info.Active+info.Scheduled+info.Retry+info.Archived != 0 {
		return fmt.Errorf("asynq queue not empty after the run: %d pending, %d active, %d scheduled, %d retry, %d archived",
			info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived)
	}
	return nil
}

// unfinished is how many tasks are pending or active (not yet done), read
// cheaply from asynq's lists: "asynq:{<queue>}:pending" and ":active" in
// v0.26.0. (Inspector.GetQueueInfo samples memory usage too, too slow to
// poll.)
func (a *asynqSetup) unfinished(ctx context.Context) (int64, error) {
	pipe := a.rdb.Pipeline()
	pending := pipe.LLen(ctx, "asynq:{"+a.queue+"}:pending")
	active := pipe.LLen(ctx, "asynq:{"+a.queue+"}:active")
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	return pending.Val() + active.Val(), nil
}

// pending is how many tasks wait in the queue.
func (a *asynqSetup) pending(ctx context.Context) (int64, error) {
	return a.rdb.LLen(ctx, "asynq:{"+a.queue+"}:pending").Result()
}
