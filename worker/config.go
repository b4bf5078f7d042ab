package worker

import (
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/fairwayhq/fairway/broker"
)

// Defaults of Config's fields.
const (
	ConcurrencyDefault     = 10
	ShutdownTimeoutDefault = 25 * time.Second
	PollIntervalDefault    = time.Second
)

// Config configures a Worker. The zero value is usable.
type Config struct {
	// Concurrency is how many handlers run at once. Defaults to 10.
	Concurrency int
	// QueueConcurrency caps, per queue, how many of this process's
	// handlers run that queue's messages at once, within Concurrency, so
	// that a slow or heavy queue cannot take every handler of the pool
	// (a queue at its cap is skipped; the other queues get the free
	// handlers). Each cap is 1 or more and names a served queue; a queue
	// left out has no cap of its own. It limits this process only: for a
	// cap across all processes, see the queue's settings in Redis.
	QueueConcurrency map[string]int
	// Queues maps the queues to serve to their weights: a queue of weight 2
	// is pulled from twice as often as one of weight 1 while both have work.
	// Defaults to every queue with a handler, weight 1.
	Queues map[string]int
	// Routes maps served queues to the topic patterns they are registered
	// with (broker.RegisterQueue). Start registers each: with the pattern
	// it has, that changes nothing; with another, Start fails with
	// broker.ErrPatternConflict (the worker never reroutes a queue; change
	// it with broker.ReplacePattern or fairway register --replace). While
	// running, the worker registers a routed queue again when it finds it
	// gone, as after a Redis restart that lost everything, and logs that
	// once. A served queue without a route must exist already: Start fails
	// with ErrQueueMissing when Redis says it does not, and Ready reports
	// it when it goes missing later. Defaults to none.
	Routes map[string]string
	// StrictPriority serves queues in order of weight, highest first: a
	// queue is pulled from only when every heavier one is empty.
	StrictPriority bool
	// ShutdownTimeout is how long running handlers may finish once Run's
	// context ends; then their contexts are canceled and their messages go
	// back to the queue. Keep it under the grace period of your supervisor
	// (Kubernetes: 30s). Defaults to 25s.
	ShutdownTimeout time.Duration
	// LeaseDuration is how long a pulled message is leased; the worker
	// extends the lease while its handler runs. Defaults to the broker's
	// Config.LeaseDuration.
	LeaseDuration time.Duration
	// RetryBackoff is the delay before attempt+1 after attempt failed.
	// Defaults to exponential backoff with jitter: about 1s, 2s, 4s, ...
	// capped at 1h, each ±50%.
	RetryBackoff func(attempt int) time.Duration
	// PollInterval is how often an idle worker pulls anyway, to pick up
	// delayed messages that fell due and retries scheduled by other
	// processes. New deliveries wake it at once, and so do the retries this
	// process scheduled, when they fall due. Defaults to 1s.
	PollInterval time.Duration
	// Logger receives the worker's logs. Defaults to slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults(b *broker.Broker) Config {
	c.Concurrency = cmp.Or(c.Concurrency, ConcurrencyDefault)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, ShutdownTimeoutDefault)
	c.LeaseDuration = cmp.Or(c.LeaseDuration, b.Config().LeaseDuration)
	c.PollInterval = cmp.Or(c.PollInterval, PollIntervalDefault)
	if c.RetryBackoff == nil {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("worker: Concurrency %d is below 1", c.Concurrency)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("worker: negative ShutdownTimeout %v", c.ShutdownTimeout)
	case c.LeaseDuration < 10*time.Millisecond:
		return fmt.Errorf("worker: LeaseDuration %v is below 10ms", c.LeaseDuration)
	case c.PollInterval < time.Millisecond:
		return fmt.Errorf("worker: PollInterval %v is below 1ms", c.PollInterval)
	}
	for q, p := range c.Routes {
		if err := broker.ValidateQueueName(q); err != nil {
			return fmt.Errorf("worker: Routes: %w", err)
		}
		if p == "" {
			return fmt.Errorf("worker: Routes: %w: empty pattern for %q", broker.ErrInvalidPattern, q)
		}
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("worker: Routes: %w for %q: %w", broker.ErrInvalidPattern, q, err)
		}
	}
	for q, n := range c.QueueConcurrency {
		if err := broker.ValidateQueueName(q); err != nil {
			return fmt.Errorf("worker: QueueConcurrency: %w", err)
		}
		if n < 1 {
			return fmt.Errorf("worker: QueueConcurrency: cap %d of %q is below 1", n, q)
		}
	}
	for q, w := range c.Queues {
		if err := broker.ValidateQueueName(q); err != nil {
			return fmt.Errorf("worker: Queues: %w", err)
		}
		if w < 1 {
			return fmt.Errorf("worker: Queues: weight %d of %q is below 1", w, q)
		}
	}
	return nil
}

// DefaultRetryBackoff is the default Config.RetryBackoff: exponential
// backoff from 1s, doubling, capped at 1h, with ±50% jitter.
func DefaultRetryBackoff(attempt int) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = time.Second
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxInterval = time.Hour
	b.MaxElapsedTime = 0
	b.Reset()
	// backoff's jittered intervals grow from one call to the next; the
	// attempt's own interval is the attempt-th.
	d := time.Duration(0)
	for range max(1, min(attempt, 32)) {
		d = b.NextBackOff()
	}
	return time.Duration(math.Min(float64(d), float64(time.Hour)*1.5))
}
