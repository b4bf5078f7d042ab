package chaos

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// producer delivers the run's messages at a steady rate, in batches. Each
// message has its own idempotency key, so a batch that failed (redis-server
// was down, or died mid-reply) can be sent again until it succeeds without
// queueing anything twice: exactly Messages messages are queued, however
// often Redis fails.
type producer struct {
	b         *broker.Broker
	cfg       Config
	logf      func(format string, args ...any)
	delivered atomic.Int64 // messages of batches that succeeded
	retries   atomic.Int64 // batches sent again after an error
}

// batchSize is how many messages one DeliverBatch carries.
const batchSize = 25

// topic is the topic of every message; the queue's pattern matches it.
const topic = queueName + ".job"

func (p *producer) run(ctx context.Context) error {
	start := time.Now()
	for first := 0; first < p.cfg.Messages; first += batchSize {
		// Paced by the clock, so a stall (a restart) is caught up after.
		due := start.Add(time.Duration(first) * time.Second / time.Duration(p.cfg.Rate))
		if err := sleepUntil(ctx, due); err != nil {
			return err
		}
		if p.cfg.Repartition > 0 && first == p.cfg.Messages/2/batchSize*batchSize {
			if err := p.repartition(ctx); err != nil {
				return err
			}
		}
		batch := p.batch(first, min(first+batchSize, p.cfg.Messages))
		if err := p.send(ctx, batch); err != nil {
			return err
		}
		p.delivered.Add(int64(len(batch)))
	}
	return nil
}

// repartition splits the queue into cfg.Repartition partitions, again and
// again until Redis answers.
func (p *producer) repartition(ctx context.Context) error {
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.b.SetPartitions(callCtx, queueName, p.cfg.Repartition)
		cancel()
		if err == nil {
			p.logf("split %s into %d partitions after %d deliveries", queueName, p.cfg.Repartition, p.delivered.Load())
			return nil
		}
		if err := sleepUntil(ctx, time.Now().Add(50*time.Millisecond)); err != nil {
			return fmt.Errorf("chaos: repartition: %w", err)
		}
	}
}

// batch is messages [from, to): facets in turn, a few of them heavier.
func (p *producer) batch(from, to int) []broker.Delivery {
	ds := make([]broker.Delivery, 0, to-from)
	for i := from; i < to; i++ {
		facet := i % p.cfg.Facets
		if i%3 == 0 {
			facet %= max(p.cfg.Facets/10, 1) // a tenth of the facets get a third more
		}
		ds = append(ds, broker.Delivery{
			Topic:          topic,
			Facet:          fmt.Sprintf("tenant-%d", facet),
			Body:           fmt.Appendf(nil, `{"n":%d}`, i),
			IdempotencyKey: fmt.Sprintf("m-%d", i),
		})
	}
	return ds
}

// send delivers a batch, again and again until it succeeds or ctx ends.
func (p *producer) send(ctx context.Context, ds []broker.Delivery) error {
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.b.DeliverBatch(callCtx, ds)
		cancel()
		if err == nil {
			return nil
		}
		p.retries.Add(1)
		if err := sleepUntil(ctx, time.Now().Add(50*time.Millisecond)); err != nil {
			return fmt.Errorf("chaos: deliver: %w", err)
		}
	}
}

// sleepUntil waits until t or until ctx ends, then returns ctx's error.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
