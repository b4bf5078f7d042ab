package broker_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/brokerlink"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// A minute of history lives HistoryRetention on the caller's clock, whatever
// Redis's says: with Redis three hours ahead, a count added now is still
// there.
func TestHistoryWithSkewedClock(t *testing.T) {
	t.Parallel()
	srv := testutil.StartSkewedServerT(t, 3*time.Hour)
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	b := newBroker(t, rdb, broker.Config{})
	now := time.Now()
	if err := brokerlink.AddHistory(ctx, b, now, map[string]broker.HistoryCounts{"q": {Processed: 3}}); err != nil {
		t.Fatal(err)
	}
	h, err := b.History(ctx, "q", now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Processed != 3 {
		t.Fatalf("History = %+v, want the 3 processed just added", h)
	}
	ttl, err := rdb.PTTL(ctx, b.Namespace()+":{q}:hist:"+strconv.FormatInt(now.Unix()/60, 10)).Result()
	if err != nil || ttl <= broker.HistoryRetention-2*time.Minute || ttl > broker.HistoryRetention {
		t.Fatalf("the minute's TTL is %v (%v), want about HistoryRetention %v less the minute's age", ttl, err, broker.HistoryRetention)
	}
}
