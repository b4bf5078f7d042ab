package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
)

// The worker records processed and failed counts in the broker's history,
// at the latest when it stops.
func TestRecordsHistory(t *testing.T) {
	t.Parallel()
	b := newBroker(t, testutil.RealRedis(t), broker.Config{})
	w := worker.New(b, quick(worker.Config{}))
	done := make(chan struct{}, 10)
	w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
		defer func() { done <- struct{}{} }()
		if strings.HasPrefix(string(m.Body), "bad") {
			return worker.SkipRetry(errors.New("bad message"))
		}
		return nil
	})
	deliverN(t, b, "ok", 3)
	deliverN(t, b, "bad", 2)
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("handlers did not run")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := b.History(ctx, "q", time.Now(), 2)
	if err != nil {
		t.Fatal(err)
	}
	var got broker.HistoryCounts
	for _, p := range h {
		got.Processed += p.Processed
		got.Failed += p.Failed
	}
	if got != (broker.HistoryCounts{Processed: 3, Failed: 2}) {
		t.Fatalf("history = %+v, want 3 processed, 2 failed", got)
	}
}
