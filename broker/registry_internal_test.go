package broker

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// longPattern is a pattern of the longest kind a queue may have, 1,000
// bytes, slow to match against a topic of 1 KiB: about 10 ms a topic.
var longPattern = strings.Repeat(".", 1000)

// newTopic is a topic of 1 KiB not routed before.
func newTopic(i int) string {
	s := "new-" + strconv.Itoa(i) + "-"
	return s + strings.Repeat("x", 1024-len(s))
}

func newRoutingBroker(t testing.TB, rdb redis.UniversalClient) *Broker {
	t.Helper()
	b, err := New(rdb, Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	for q, pattern := range map[string]string{"q": "^cached$", "long": longPattern} {
		if err := b.RegisterQueue(t.Context(), q, pattern); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestRouteMatchesWithoutLock holds up the matching of a new topic and,
// meanwhile, delivers a topic routed before through the same broker: that
// delivery needs the registry cache, and completes because matching holds
// no lock on it. Neither it nor its subtests are parallel: they set
// testMatchHook.
func TestRouteMatchesWithoutLock(t *testing.T) {
	for _, backend := range testutil.Backends() {
		t.Run(backend.Name, func(t *testing.T) { testRouteMatchesWithoutLock(t, backend.Client(t)) })
	}
}

func testRouteMatchesWithoutLock(t *testing.T, rdb redis.UniversalClient) {
	ctx := t.Context()
	b := newRoutingBroker(t, rdb)
	if err := b.DeliverBytes(ctx, "cached", "f", []byte("warm")); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	hook := func() {
		if calls.Add(1) != 1 {
			return
		}
		if !b.reg.mu.TryLock() {
			t.Error("route holds the registry lock while it matches")
		} else {
			b.reg.mu.Unlock()
		}
		done := make(chan error, 1)
		go func() { done <- b.DeliverBytes(ctx, "cached", "f", []byte("during")) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("delivery of a cached topic during a match: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("a delivery of a cached topic waited for the match of a new one")
		}
	}
	testMatchHook.Store(&hook)
	t.Cleanup(func() { testMatchHook.Store(nil) })
	if err := b.DeliverBytes(ctx, newTopic(0), "f", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if calls.Load() == 0 {
		t.Fatal("the new topic was never matched")
	}
	for q, want := range map[string]int64{"q": 2, "long": 1} {
		s, err := b.Stats(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if s.Ready != want {
			t.Errorf("queue %s: %d ready, want %d", q, s.Ready, want)
		}
	}
}

// BenchmarkRouteCachedBehindLongPattern routes a topic routed before while
// another goroutine routes new topics through a 1,000-byte pattern, one
// after another: with matching under the registry's exclusive lock, each
// cached route could wait for a whole match of about 10 ms (p99.9-µs).
func BenchmarkRouteCachedBehindLongPattern(bm *testing.B) {
	_, rdb := testutil.MiniRedis(bm)
	b := newRoutingBroker(bm, rdb)
	cached := []prepared{{topic: "cached", facet: "f"}}
	if _, err := b.route(bm.Context(), cached); err != nil {
		bm.Fatal(err)
	}
	stop := make(chan struct{})
	matched := make(chan int)
	go func() {
		n := 0
		defer func() { matched <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.route(bm.Context(), []prepared{{topic: newTopic(n), facet: "f"}}); err != nil {
				bm.Error(err)
				return
			}
		}
	}()
	var took []time.Duration
	for bm.Loop() {
		start := time.Now()
		if _, err := b.route(bm.Context(), cached); err != nil {
			bm.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	close(stop)
	bm.ReportMetric(float64(<-matched), "new-topics")
	slices.Sort(took)
	bm.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	bm.ReportMetric(float64(took[len(took)*999/1000].Microseconds()), "p99.9-µs")
}
