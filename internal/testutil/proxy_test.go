package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestProxyLosesRepliesOfExecutedCommands shows the fault the proxy makes: a
// lost reply makes go-redis run the command again, so an INCR counts twice.
func TestProxyLosesRepliesOfExecutedCommands(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	for _, stall := range []time.Duration{0, 300 * time.Millisecond} {
		p := StartProxyT(t, s.Addr())
		p.SetStall(stall)
		p.SetMatch(MatchCommands("INCR"))
		rdb := redis.NewClient(&redis.Options{Addr: p.Addr(), ReadTimeout: 100 * time.Millisecond})
		ctx := context.Background()
		key := "proxy-test-" + stall.String()
		if err := rdb.Set(ctx, key, 0, 0).Err(); err != nil {
			t.Fatal(err)
		}
		p.DropNext(1)
		n, err := rdb.Incr(ctx, key).Result()
		if err != nil {
			t.Fatalf("stall %v: INCR through the proxy: %v", stall, err)
		}
		if n != 2 || p.Dropped() != 1 {
			t.Errorf("stall %v: INCR answered %d after %d lost replies, want 2 after 1 (run twice)", stall, n, p.Dropped())
		}
		_ = rdb.Close()
	}
}
