package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// A worker never runs a message that expired before its turn: it becomes a
// dead letter, and the worker goes on with the live messages behind it. A
// message that started before its deadline and failed is retried after it.
func TestWorkerSkipsExpired(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		const ttl = 300 * time.Millisecond
		for i := range 20 {
			if err := b.DeliverBytes(ctx, "t", fmt.Sprintf("f%d", i%4), []byte("late"), broker.WithTTL(ttl)); err != nil {
				t.Fatal(err)
			}
		}
		deliverN(t, b, "f0", 3)
		deliverN(t, b, "f9", 3)
		delivered, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool {
			now, err := rdb.Time(ctx).Result()
			return err == nil && now.After(delivered.Add(ttl))
		}, "the TTL to pass on Redis's clock")
		// Long enough to start before its deadline on a loaded machine; its
		// retry comes after.
		const retriedTTL = time.Second
		if err := b.DeliverBytes(ctx, "t", "f1", []byte("retried"), broker.WithTTL(retriedTTL)); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var ran []string
		w := worker.New(b, quick(worker.Config{RetryBackoff: func(int) time.Duration { return retriedTTL + 200*time.Millisecond }}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			mu.Lock()
			defer mu.Unlock()
			ran = append(ran, fmt.Sprintf("%s@%d", m.Body, m.Attempt))
			if string(m.Body) == "retried" && m.Attempt == 1 {
				return errors.New("first run fails")
			}
			return nil
		})
		startWorker(t, w, b)
		want := []string{"f0-0@1", "f0-1@1", "f0-2@1", "f9-0@1", "f9-1@1", "f9-2@1", "retried@1", "retried@2"}
		// Stats reads its counts in one pipeline, not atomically: a pull
		// between its reads can make them add up to zero for a moment
		// while a retry is on its way, so the runs are waited for too.
		testutil.Eventually(t, 10*time.Second, func() bool {
			mu.Lock()
			n := len(ran)
			mu.Unlock()
			s := stats(t, b)
			return n >= len(want) && s.Ready+s.InFlight+s.Delayed == 0
		}, "every live message run and none left")
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(ran)
		if !slices.Equal(ran, want) {
			t.Fatalf("handler ran %v, want %v", ran, want)
		}
		ds, err := b.DeadLetters(ctx, "q", 0, 100)
		if err != nil || len(ds) != 20 {
			t.Fatalf("DeadLetters = %d, %v; want 20", len(ds), err)
		}
		for _, d := range ds {
			if d.Error != "expired" || string(d.Body) != "late" {
				t.Fatalf("dead letter %v: %q, %q; want late, expired", d.ID, d.Body, d.Error)
			}
		}
		if s := stats(t, b); s.Expired != 20 {
			t.Fatalf("Stats.Expired = %d, want 20", s.Expired)
		}
	})
}
