// Quickstart shows Fairway's fairness: one tenant floods a queue, a few
// small tenants deliver a handful of messages after it, and a worker pool
// still handles the small tenants' messages within its first few dozen,
// where a FIFO queue would make them wait behind the whole flood.
//
//	go run ./examples/quickstart                                # embedded Redis (miniredis)
//	REDIS_URL=redis://localhost:6379/0 go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/alicebob/miniredis/v2"
	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

const (
	queue     = "emails"
	bigTenant = "big-corp"
	floodSize = 1000 // messages the big tenant delivers first
	smallSize = 3    // messages each small tenant delivers after the flood
	showPulls = 20   // handled messages printed in order
	workers   = 4    // handlers running at once
)

var smallTenants = []string{"acme", "globex", "initech"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Getenv("REDIS_URL"))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run delivers the flood and the small tenants' messages, handles them all
// with a worker pool, and writes the order in which they were handled to w. It uses the Redis at
// redisURL, or an embedded one when redisURL is empty.
func run(ctx context.Context, w io.Writer, redisURL string) (err error) {
	rdb, cleanup, err := connect(redisURL)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connect to Redis: %w", err)
	}
	b, err := broker.New(rdb, broker.Config{Namespace: "quickstart"})
	if err != nil {
		return err
	}
	// Start from an empty queue, and leave nothing behind on a real Redis.
	if err := b.DestroyQueue(ctx, queue); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.DestroyQueue(context.WithoutCancel(ctx), queue)) }()
	if err := b.RegisterQueue(ctx, queue, `^email\.`); err != nil {
		return err
	}
	if err := deliver(ctx, b); err != nil {
		return err
	}
	order, err := work(ctx, b)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, report(order))
	return err
}

// connect returns a client for redisURL, or for an embedded Redis.
func connect(redisURL string) (*redis.Client, func(), error) {
	if redisURL != "" {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(opts)
		return rdb, func() { _ = rdb.Close() }, nil
	}
	mr, err := miniredis.Run()
	if err != nil {
		return nil, nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { _ = rdb.Close(); mr.Close() }, nil
}

// deliver queues the flood first, then the small tenants' messages.
func deliver(ctx context.Context, b *broker.Broker) error {
	var ds []broker.Delivery
	add := func(tenant string, n int) {
		for i := range n {
			body := fmt.Sprintf(`{"tenant":%q,"n":%d}`, tenant, i)
			ds = append(ds, broker.Delivery{Topic: "email.send", Facet: tenant, Body: []byte(body)})
		}
	}
	add(bigTenant, floodSize)
	for _, t := range smallTenants {
		add(t, smallSize)
	}
	return b.DeliverBatch(ctx, ds)
}

// work runs a worker pool until every message is handled and returns the
// facet of each message in the order the handlers started.
func work(ctx context.Context, b *broker.Broker) ([]string, error) {
	total := floodSize + len(smallTenants)*smallSize
	ctx, done := context.WithCancel(ctx)
	defer done()
	var mu sync.Mutex
	var order []string
	w := worker.New(b, worker.Config{Concurrency: workers, Logger: slog.New(slog.DiscardHandler)})
	w.HandleFunc(queue, func(_ context.Context, m *broker.Message) error {
		mu.Lock()
		order = append(order, m.Facet)
		if len(order) == total {
			done() // the last one: stop the pool, which lets this handler finish
		}
		mu.Unlock()
		return nil // "send the email"; nil acks the message
	})
	err := w.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	if err == nil && len(order) < total {
		err = fmt.Errorf("stopped after %d of %d messages: %w", len(order), total, ctx.Err())
	}
	return order, err
}

// report describes what was delivered, the first pulls, and the pull at
// which each tenant was done.
func report(order []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "delivered %d messages for %s, then %d each for %s\n",
		floodSize, bigTenant, smallSize, strings.Join(smallTenants, ", "))
	fmt.Fprintf(&s, "a pool of %d workers handled, first %d: %s\n", workers, showPulls, strings.Join(order[:min(showPulls, len(order))], " "))
	last := make(map[string]int)
	for i, f := range order {
		last[f] = i + 1
	}
	fifo := floodSize
	for _, t := range smallTenants {
		fifo += smallSize
		fmt.Fprintf(&s, "%-8s done at message %4d (plain FIFO: %d)\n", t, last[t], fifo)
	}
	fmt.Fprintf(&s, "%-8s done at message %4d of %d\n", bigTenant, last[bigTenant], len(order))
	return s.String()
}
