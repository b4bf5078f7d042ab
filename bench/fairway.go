package main

import (
	"context"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// fairwaySetup is a broker on the benchmark's server, with a namespace of
// its own and one queue, named like the namespace, that takes topic queue.
type fairwaySetup struct {
	rdb   *redis.Client
	b     *broker.Broker
	queue string
}

func newFairway(ctx context.Context, e *env, queue string) (*fairwaySetup, error) {
	rdb := e.srv.client()
	b, err := broker.New(rdb, broker.Config{Namespace: "bench-" + queue, Logger: e.log})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	if err := b.RegisterQueue(ctx, queue, "^"+queue+"$"); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return &fairwaySetup{rdb: rdb, b: b, queue: queue}, nil
}

func (f *fairwaySetup) close() { _ = f.rdb.Close() }

// startWorker starts a worker running h on the queue.
func (f *fairwaySetup) startWorker(ctx context.Context, e *env, concurrency int, h worker.HandlerFunc) (*worker.Worker, error) {
	w := worker.New(f.b, worker.Config{Concurrency: concurrency, Logger: e.log})
	w.Handle(f.queue, h)
	return w, w.Start(ctx)
}

// stopWorker stops w and checks that the queue is empty.
func (f *fairwaySetup) stopWorker(w *worker.Worker) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		return fmt.Errorf("stop worker: %w", err)
	}
	st, err := f.b.Stats(ctx, f.queue)
	if err != nil {
		return err
	}
	if st.Ready+st.InFlight+st.Delayed+st.Dead != 0 {
		return fmt.Errorf("queue not empty after the run: %+v", st)
	}
	return nil
}

// ready is how many messages wait in the queue.
func (f *fairwaySetup) ready(ctx context.Context) (int64, error) {
	st, err := f.b.Stats(ctx, f.queue)
	return st.Ready, err
}

// unfinished is how many messages are ready or leased: not yet acked.
func (f *fairwaySetup) unfinished(ctx context.Context) (int64, error) {
	st, err := f.b.Stats(ctx, f.queue)
	return st.Ready + st.InFlight, err
}
