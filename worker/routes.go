package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// startCheckTimeout bounds Start's check of the served queues: a Redis that
// does not answer in time leaves the check to the fetcher.
const startCheckTimeout = 5 * time.Second

// checkQueues is Start's check of the served queues: it registers each
// queue of Config.Routes with its pattern, and makes sure every other one
// exists. It fails on a pattern conflict and on a missing queue without a
// route; when Redis does not answer, or answers with an error, it logs
// that and goes on, and the fetcher reports or heals what it finds.
func (w *Worker) checkQueues(ctx context.Context, queues map[string]int) error {
	ctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	for _, q := range slices.Sorted(maps.Keys(queues)) {
		err := w.checkQueue(ctx, q)
		switch {
		case err == nil:
		case errors.Is(err, ErrQueueMissing), errors.Is(err, broker.ErrPatternConflict),
			errors.Is(err, broker.ErrInvalidPattern), errors.Is(err, broker.ErrInvalidArgument):
			return err
		case ctx.Err() != nil:
			w.cfg.Logger.Warn("fairway: cannot check the served queues at start; the fetcher checks them when Redis answers",
				"err", fmt.Errorf("queue %q: %w", q, err))
			return nil
		default:
			w.cfg.Logger.Warn("fairway: cannot check a served queue at start; the fetcher checks it when Redis answers",
				"err", fmt.Errorf("queue %q: %w", q, err))
		}
	}
	return nil
}

// checkQueue registers queue when it has a route, else checks that it
// exists.
func (w *Worker) checkQueue(ctx context.Context, queue string) error {
	if pattern, ok := w.cfg.Routes[queue]; ok {
		if err := w.b.RegisterQueue(ctx, queue, pattern); err != nil {
			return fmt.Errorf("worker: register queue %q from Config.Routes: %w", queue, err)
		}
		return nil
	}
	ok, err := w.b.QueueExists(ctx, queue)
	if err != nil {
		return err
	}
	if !ok {
		return missingQueue(queue)
	}
	return nil
}

// missingQueue is the error, and Ready's reason, for a served queue that
// does not exist and has no route.
func missingQueue(queue string) error {
	return fmt.Errorf("%w: queue %q is not registered (Redis lost its registry?); register it, or give the worker its pattern in Config.Routes",
		ErrQueueMissing, queue)
}

// unknownQueue handles a pull of queue that failed with
// broker.ErrUnknownQueue: the queue is gone, as after a Redis restart that
// lost everything. A routed queue is registered again at once (logged
// once, at Warn); any other is reported in Ready and logged once, until a
// pull of it succeeds again (see queueAnswered). It returns the error that
// holds the queue back, or nil when it was registered again.
func (r *runner) unknownQueue(ctx context.Context, queue string) error {
	var missing error
	if pattern, ok := r.cfg.Routes[queue]; ok {
		err := r.b.RegisterQueue(ctx, queue, pattern)
		if err == nil {
			r.cfg.Logger.Warn("fairway: served queue was missing (Redis lost its registry?); registered it again",
				"queue", queue, "pattern", pattern)
			return nil
		}
		missing = fmt.Errorf("%w; registering it again failed: %w", missingQueue(queue), err)
	} else {
		missing = missingQueue(queue)
	}
	if r.w.health.setMissing(queue, missing) && ctx.Err() == nil {
		r.cfg.Logger.Error("fairway: served queue is missing; not ready until it is registered", "queue", queue, "err", missing, "ready", false)
	}
	return missing
}

// queueAnswered clears queue's missing state after a pull of it
// succeeded, logging that it is back.
func (r *runner) queueAnswered(queue string) {
	if r.w.health.setMissing(queue, nil) {
		r.cfg.Logger.Info("fairway: served queue is back", "queue", queue)
	}
}
