package worker

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// serviceNames are the services of a runner, in the order they stop.
var serviceNames = []string{"fetcher", "server check", "acker", "lease keeper", "history"}

// hookedWorker is a worker on a fresh queue "q" of rdb whose services run
// under hooks.
func hookedWorker(t *testing.T, rdb redis.UniversalClient, hooks *serviceHooks, lease time.Duration) (*Worker, *broker.Broker) {
	t.Helper()
	b, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(context.Background(), "q", "."); err != nil {
		t.Fatal(err)
	}
	w := New(b, Config{
		Concurrency: 2, PollInterval: 20 * time.Millisecond, LeaseDuration: lease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	w.hooks = hooks
	return w, b
}

func historyTotal(t *testing.T, b *broker.Broker) broker.HistoryCounts {
	t.Helper()
	h, err := b.History(context.Background(), "q", time.Now(), 2)
	if err != nil {
		t.Fatal(err)
	}
	var got broker.HistoryCounts
	for _, p := range h {
		got.Processed += p.Processed
		got.Failed += p.Failed
	}
	return got
}

// Every service panics on its first run and is restarted: the worker then
// fetches, keeps a lease past its period, acks, and writes its history as
// if nothing happened.
func TestEveryServiceRestartsAfterPanic(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		var mu sync.Mutex
		runs := map[string]int{}
		hooks := &serviceHooks{onRun: func(name string) {
			mu.Lock()
			runs[name]++
			first := runs[name] == 1
			mu.Unlock()
			if first {
				panic("injected into " + name)
			}
		}}
		const lease = time.Second
		w, b := hookedWorker(t, rdb, hooks, lease)
		var handled atomic.Int32
		w.HandleFunc("q", func(context.Context, *broker.Message) error {
			handled.Add(1)
			time.Sleep(3 * lease / 2) // outlives its lease: the keeper must extend it
			return nil
		})
		ctx := context.Background()
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range serviceNames {
				if runs[n] < 2 {
					return false
				}
			}
			return true
		}, "not every service was restarted")
		if err := b.DeliverBytes(ctx, "t", "f", []byte("x")); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			s, err := b.Stats(ctx, "q")
			if err != nil {
				t.Fatal(err)
			}
			return handled.Load() == 1 && s.Ready == 0 && s.InFlight == 0
		}, "the message was not handled and acked")
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := w.Stop(stopCtx); err != nil {
			t.Fatal(err)
		}
		if n := handled.Load(); n != 1 {
			t.Errorf("handled %d times, want 1: the lease was not kept", n)
		}
		if got := historyTotal(t, b); got.Processed != 1 {
			t.Errorf("history %+v, want 1 processed", got)
		}
	})
}

// The services stop in the documented order: the fetcher (and server check)
// first, then, once the handlers drained, the acker, having flushed the ack
// of a handler that finished during the drain, then the lease keeper, and
// the history last, with that handler's outcome counted.
func TestServicesStopInOrder(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		var mu sync.Mutex
		var stopped []string
		ackedAtKeeperStop := false
		var b *broker.Broker
		hooks := &serviceHooks{onStop: func(name string) {
			if name == "lease keeper" {
				s, err := b.Stats(context.Background(), "q")
				ackedAtKeeperStop = err == nil && s.InFlight == 0 && s.Ready == 0
			}
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
		}}
		var w *Worker
		w, b = hookedWorker(t, rdb, hooks, time.Second)
		started, release := make(chan struct{}), make(chan struct{})
		w.HandleFunc("q", func(context.Context, *broker.Message) error {
			close(started)
			<-release
			return nil
		})
		ctx := context.Background()
		if err := b.DeliverBytes(ctx, "t", "f", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-started
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- w.Stop(stopCtx) }()
		// The fetcher and the server check stop while the handler runs;
		// nothing else does.
		testutil.Eventually(t, 5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(stopped) == 2
		}, "the fetcher did not stop first")
		mu.Lock()
		first := slices.Clone(stopped)
		mu.Unlock()
		slices.Sort(first)
		if !slices.Equal(first, []string{"fetcher", "server check"}) {
			t.Fatalf("stopped first: %v, want the fetcher and server check", first)
		}
		time.Sleep(50 * time.Millisecond)
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if got := stopped[2:]; !slices.Equal(got, serviceNames[2:]) {
			t.Errorf("stopped %v after the drain, want %v", got, serviceNames[2:])
		}
		if !ackedAtKeeperStop {
			t.Error("the last ack was not flushed when the lease keeper stopped")
		}
		if got := historyTotal(t, b); got.Processed != 1 {
			t.Errorf("history %+v, want the last outcome counted", got)
		}
	})
}
