package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

func TestRunDrainsRunningHandlersThenReturnsNil(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		started := make(chan struct{}, 10)
		var finished atomic.Int32
		w := worker.New(b, quick(worker.Config{Concurrency: 3}))
		w.HandleFunc("q", func(context.Context, *broker.Message) error {
			started <- struct{}{}
			time.Sleep(200 * time.Millisecond) // ignores ctx: must be allowed to finish
			finished.Add(1)
			return nil
		})
		deliverN(t, b, "f", 10)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		for range 3 {
			<-started
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		// The three running handlers finished and were acked; the rest were
		// never fetched.
		if finished.Load() != 3 {
			t.Fatalf("%d handlers finished, want 3", finished.Load())
		}
		s := stats(t, b)
		if s.InFlight != 0 || s.Ready != 7 {
			t.Fatalf("stats after shutdown %+v, want 7 ready and none in flight", s)
		}
	})
}

func TestShutdownTimeoutCancelsAndHandsBack(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		started := make(chan struct{})
		cause := make(chan error, 1)
		w := worker.New(b, quick(worker.Config{ShutdownTimeout: 100 * time.Millisecond}))
		w.HandleFunc("q", func(ctx context.Context, _ *broker.Message) error {
			close(started)
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		})
		deliverN(t, b, "f", 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		<-started
		cancel()
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want a shutdown-timeout error", err)
		}
		if err := <-cause; !errors.Is(err, worker.ErrShutdown) {
			t.Fatalf("handler context cause %v, want ErrShutdown", err)
		}
		// Handed back at the head of its facet, the attempt not counted.
		m, err := b.Pull(context.Background(), "q")
		if err != nil || m == nil {
			t.Fatalf("pull after shutdown: %v, %v", m, err)
		}
		if m.Attempt != 1 {
			t.Fatalf("attempt %d after a handed-back shutdown, want 1", m.Attempt)
		}
	})
}

func TestStopTwiceAndStopWithoutStart(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		w := worker.New(b, quick(worker.Config{}))
		if err := w.Stop(context.Background()); err != nil {
			t.Fatalf("Stop before Start: %v", err)
		}
		w.HandleFunc("q", func(context.Context, *broker.Message) error { return nil })
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(context.Background()); !errors.Is(err, worker.ErrAlreadyStarted) {
			t.Fatalf("second Start = %v, want ErrAlreadyStarted", err)
		}
		for range 2 {
			if err := w.Stop(context.Background()); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		}
	})
}
