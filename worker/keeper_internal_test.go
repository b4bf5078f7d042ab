package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// Every lease the keeper holds is dropped once its message is settled,
// whatever the outcome (ack, retry, dead letter), so the lease table does
// not grow with the work done.
func TestKeeperForgetsSettledLeases(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealRedis(t)
	b, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(t), MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.RegisterQueue(ctx, "q", "."); err != nil {
		t.Fatal(err)
	}
	const n = 60
	for i := range n {
		if err := b.DeliverBytes(ctx, "t", "f", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	w := New(b, Config{
		Concurrency: 4, PollInterval: 20 * time.Millisecond,
		RetryBackoff: func(int) time.Duration { return time.Millisecond },
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
		if m.Body[0]%2 == 0 {
			return nil
		}
		return errors.New("odd") // retried once, then dead
	})
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop(ctx) }()
	k := w.run.keeper
	testutil.Eventually(t, 10*time.Second, func() bool {
		s, err := b.Stats(ctx, "q")
		if err != nil {
			t.Fatal(err)
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		return s.Dead == n/2 && s.Ready == 0 && s.InFlight == 0 && s.Delayed == 0 && len(k.tracked) == 0
	}, "messages not all settled, or their leases still held")
}
