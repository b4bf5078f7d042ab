package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
)

// A worker pool started on a Redis held over its memory limit drains the
// queue that filled it: pulls and acks still run, and free the memory that
// deliveries then get again.
func TestWorkerDrainsFullRedis(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t, "--maxmemory", "20mb", "--maxmemory-policy", "noeviction")
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	b := newBroker(t, rdb, broker.Config{})
	body := []byte(strings.Repeat("x", 4096))
	queued := 0
	for ; ; queued++ {
		err := b.DeliverBytes(ctx, "t", fmt.Sprint("f", queued%20), body)
		if errors.Is(err, broker.ErrRedisFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Hold Redis over its limit: below what it uses now.
	info, err := rdb.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	used, err := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used-1<<20, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverBytes(ctx, "t", "f", body); !errors.Is(err, broker.ErrRedisFull) {
		t.Fatalf("Deliver over the limit: %v, want ErrRedisFull", err)
	}
	var handled atomic.Int64
	w := worker.New(b, quick(worker.Config{Concurrency: 20}))
	w.HandleFunc("q", func(context.Context, *broker.Message) error { handled.Add(1); return nil })
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		s, err := b.Stats(ctx, "q")
		return err == nil && s.Ready == 0 && s.InFlight == 0
	}, "the worker to drain the %d messages that filled Redis", queued)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != int64(queued) {
		t.Errorf("handled %d of %d", n, queued)
	}
	if err := b.DeliverBytes(ctx, "t", "f", body); err != nil {
		t.Errorf("Deliver once drained: %v", err)
	}
	t.Logf("drained %d messages from a Redis held over its limit", queued)
}
