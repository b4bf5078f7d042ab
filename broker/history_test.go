package broker_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/brokerlink"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		ctx := t.Context()
		now := time.Now().Truncate(time.Minute).Add(30 * time.Second)
		add := func(at time.Time, c map[string]broker.HistoryCounts) {
			t.Helper()
			if err := brokerlink.AddHistory(ctx, b, at, c); err != nil {
				t.Fatalf("brokerlink.AddHistory: %v", err)
			}
		}
		add(now, map[string]broker.HistoryCounts{"q": {Processed: 3, Failed: 1}, "r": {Processed: 7}})
		add(now.Add(5*time.Second), map[string]broker.HistoryCounts{"q": {Processed: 2}})
		add(now.Add(-2*time.Minute), map[string]broker.HistoryCounts{"q": {Failed: 4}})
		add(now.Add(-time.Hour), map[string]broker.HistoryCounts{"q": {Processed: 100}}) // outside the window

		h, err := b.History(ctx, "q", now, 60)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if len(h) != 60 {
			t.Fatalf("History returned %d points, want 60", len(h))
		}
		last := h[59]
		if !last.Minute.Equal(now.Truncate(time.Minute)) || last.Processed != 5 || last.Failed != 1 {
			t.Errorf("last minute = %+v, want 5 processed, 1 failed at %v", last, now.Truncate(time.Minute))
		}
		if h[57].Failed != 4 || h[57].Processed != 0 {
			t.Errorf("two minutes ago = %+v, want 4 failed", h[57])
		}
		var total int64
		for _, p := range h {
			total += p.Processed
		}
		if total != 5 {
			t.Errorf("processed over the hour = %d, want 5", total)
		}
		r, _ := b.History(ctx, "r", now, 1)
		if len(r) != 1 || r[0].Processed != 7 {
			t.Errorf("queue r = %+v, want 7 processed", r)
		}
	})
}

func TestHistoryExpires(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealRedis(t)
	b := newBroker(t, rdb, broker.Config{})
	now := time.Now()
	if err := brokerlink.AddHistory(t.Context(), b, now, map[string]broker.HistoryCounts{"q": {Processed: 1}}); err != nil {
		t.Fatal(err)
	}
	key := b.Namespace() + ":{q}:hist:" + strconv.FormatInt(now.Unix()/60, 10)
	ttl, err := rdb.TTL(t.Context(), key).Result()
	if err != nil || ttl <= broker.HistoryRetention-2*time.Minute || ttl > broker.HistoryRetention {
		t.Fatalf("TTL(%s) = %v, %v; want about %v", key, ttl, err, broker.HistoryRetention)
	}
}

func TestHistoryBadInput(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb, broker.Config{})
	ctx := t.Context()
	if err := brokerlink.AddHistory(ctx, b, time.Now(), map[string]broker.HistoryCounts{"a b": {Processed: 1}}); !errors.Is(err, broker.ErrInvalidQueueName) {
		t.Errorf("bad queue: %v", err)
	}
	if err := brokerlink.AddHistory(ctx, b, time.Now(), map[string]broker.HistoryCounts{"q": {Failed: -1}}); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Errorf("negative: %v", err)
	}
	for _, n := range []int{0, broker.MaxHistoryMinutes + 1} {
		if _, err := b.History(ctx, "q", time.Now(), n); !errors.Is(err, broker.ErrInvalidArgument) {
			t.Errorf("History(%d): %v", n, err)
		}
	}
}

func TestDestroyQueueClearsHistory(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		now := time.Now()
		for _, at := range []time.Time{now, now.Add(-90 * time.Minute)} {
			if err := brokerlink.AddHistory(t.Context(), b, at, map[string]broker.HistoryCounts{"q": {Processed: 1}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.DestroyQueue(t.Context(), "q"); err != nil {
			t.Fatal(err)
		}
		left, err := rdb.Keys(t.Context(), b.Namespace()+":{q}:*").Result()
		if err != nil || len(left) != 0 {
			t.Fatalf("keys left after DestroyQueue: %v, %v", left, err)
		}
	})
}
