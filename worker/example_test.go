package worker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// A worker runs a handler for each message of a queue, then shuts down
// gracefully when its context ends.
func Example() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()
	b, err := broker.New(rdb, broker.Config{})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.RegisterQueue(ctx, "emails", `^user\.`); err != nil {
		panic(err)
	}
	_ = b.Deliver(ctx, map[string]any{"topic": "user.signup", "facet": "acme", "email": "ann@example.com"})

	type signup struct {
		Email string `json:"email"`
	}
	done := make(chan struct{})
	w := worker.New(b, worker.Config{Concurrency: 2, PollInterval: 10 * time.Millisecond})
	w.Handle("emails", worker.JSON(func(_ context.Context, s signup) error {
		fmt.Println("welcome", s.Email)
		close(done)
		return nil // acked
	}))
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(runCtx) }()
	<-done
	stop() // as SIGTERM would, through signal.NotifyContext
	fmt.Println("run:", <-errc)
	// Output:
	// welcome ann@example.com
	// run: <nil>
}

// Config.Routes gives the worker its queues' patterns: Start registers
// them, refuses a queue registered with another pattern, and the worker
// registers them again if Redis loses them.
func ExampleConfig_routes() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()
	b, err := broker.New(rdb, broker.Config{})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	w := worker.New(b, worker.Config{Routes: map[string]string{"reports": `^report\.`}})
	w.HandleFunc("reports", func(context.Context, *broker.Message) error { return nil })
	if err := w.Start(ctx); err != nil {
		panic(err)
	}
	defer func() { _ = w.Stop(ctx) }()
	queues, _ := b.Queues(ctx)
	fmt.Println("registered:", queues["reports"])

	other := worker.New(b, worker.Config{Routes: map[string]string{"reports": `^reports$`}})
	other.HandleFunc("reports", func(context.Context, *broker.Message) error { return nil })
	err = other.Start(ctx)
	fmt.Println("conflict:", errors.Is(err, broker.ErrPatternConflict))
	// Output:
	// registered: ^report\.
	// conflict: true
}
