package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newBroker returns a broker with its own namespace and a queue "q" that
// takes every topic.
func newBroker(t *testing.T, rdb redis.UniversalClient, cfg broker.Config) *broker.Broker {
	t.Helper()
	cfg.Namespace = testutil.Namespace(t)
	cfg.Logger = quietLog
	b, err := broker.New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(context.Background(), "q", "."); err != nil {
		t.Fatal(err)
	}
	return b
}

// quick returns a worker config for tests: fast retries and polling.
func quick(cfg worker.Config) worker.Config {
	if cfg.RetryBackoff == nil {
		cfg.RetryBackoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	cfg.Logger = quietLog
	return cfg
}

// startWorker starts w and stops it when the test ends; then it checks that
// the queues of b hold every message in exactly one place.
func startWorker(t *testing.T, w *worker.Worker, b *broker.Broker) {
	t.Helper()
	startWorkerCheckedBy(t, w, b)
}

// startWorkerCheckedBy is startWorker with the queues checked through
// broker b, which may be on another client than w's (an admin's, when w's
// ACL user may not read all it takes to check them).
func startWorkerCheckedBy(t *testing.T, w *worker.Worker, b *broker.Broker) {
	t.Helper()
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		queues, err := b.Queues(ctx)
		if err != nil {
			return // Redis is gone: the outage test's server has stopped
		}
		for q := range queues {
			p, err := b.Partitions(ctx, q)
			if err != nil {
				t.Errorf("Partitions(%q): %v", q, err)
				continue
			}
			for _, name := range append(p.Names, p.Draining...) {
				if err := testutil.CheckQueue(ctx, b.Client(), b.Namespace(), name); err != nil {
					t.Errorf("after the worker stopped: %v", err)
				}
			}
		}
	})
}

func deliverN(t *testing.T, b *broker.Broker, facet string, n int) {
	t.Helper()
	ds := make([]broker.Delivery, n)
	for i := range ds {
		ds[i] = broker.Delivery{Topic: "t", Facet: facet, Body: fmt.Appendf(nil, "%s-%d", facet, i)}
	}
	if err := b.DeliverBatch(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
}

func stats(t *testing.T, b *broker.Broker) broker.QueueStats {
	t.Helper()
	s, err := b.Stats(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// drained reports whether queue "q" holds nothing at all.
func drained(t *testing.T, b *broker.Broker) func() bool {
	return func() bool { return stats(t, b) == broker.QueueStats{Routed: true} }
}
