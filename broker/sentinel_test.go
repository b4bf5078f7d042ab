package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// The tests in this file run the broker on a Sentinel-managed client
// (redis.NewFailoverClient) to the shared Sentinel setup: a primary, its
// replica and three sentinels (testutil.SharedSentinel).

// Deliveries reach every matching queue, and subscriptions and watches
// hear them, through a FailoverClient.
func TestSentinelDeliver(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealSentinel(t)
	ctx := t.Context()
	b := newBroker(t, rdb, broker.Config{})
	qs := []string{"a", "b", "c"}
	for _, q := range qs {
		register(t, b, q, ".")
	}
	register(t, b, "odd", "^odd$")
	sub, err := b.Subscribe(ctx, "odd")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	watch, err := b.Watch(ctx, "odd")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Close() }()

	var ds []broker.Delivery
	for i := range 30 {
		topic := "even"
		if i%2 == 1 {
			topic = "odd"
		}
		ds = append(ds, broker.Delivery{Topic: topic, Facet: fmt.Sprintf("f%d", i%3), Body: fmt.Appendf(nil, "m%d", i)})
	}
	if err := b.DeliverBatch(ctx, ds); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		wantStats(t, b, q, broker.QueueStats{Ready: 30, Facets: 3, Routed: true})
	}
	wantStats(t, b, "odd", broker.QueueStats{Ready: 15, Facets: 3, Routed: true})
	select {
	case ev := <-sub.Channel():
		if ev.Topic != "odd" || string(ev.Body) != "m1" {
			t.Fatalf("event %q %q", ev.Topic, ev.Body)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no event")
	}
	select {
	case <-watch.C():
	case <-time.After(waitTimeout):
		t.Fatal("no wake-up")
	}
	for _, q := range append(qs, "odd") {
		want := 30
		if q == "odd" {
			want = 15
		}
		if got := drain(t, b, q); len(got) != want {
			t.Fatalf("drained %d messages from %s, want %d", len(got), q, want)
		}
	}
	checkQueues(t, b, append(qs, "odd")...)
}

// Leases, retries, priorities, in-flight limits, pauses and dead letters
// work through a FailoverClient.
func TestSentinelLeases(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealSentinel(t)
	b := newBroker(t, rdb, broker.Config{MaxAttempts: 2})
	leaseOps(t, b, "q")
}
