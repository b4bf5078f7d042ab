package broker_test

import (
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// With Redis's clock an hour behind ours, a retired partition is still kept
// for DrainGrace after the change, measured on one clock: pulls that find
// it empty do not drop it early, and a producer that routed by the old
// count meanwhile still lands in it. Once the grace has passed, it goes.
func TestDrainGraceWithSkewedClock(t *testing.T) {
	t.Parallel()
	srv := testutil.StartSkewedServerT(t, -time.Hour)
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	const grace = 3 * time.Second
	b := newQueue(t, rdb, broker.Config{DrainGrace: grace})
	stale := newBroker(t, rdb, broker.Config{Namespace: b.Namespace(), DrainGrace: grace})
	deliver(t, stale, "t", "f", "before") // stale's cache has "q" unpartitioned
	ack(t, b, pull(t, b, "q"))
	start := time.Now()
	if err := b.SetPartitions(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	// Well inside the grace, however slow this machine: pulls find the old
	// partition empty, and must not drop it.
	for time.Since(start) < grace/2 {
		pullNone(t, b, "q")
		if p := partitionsOf(t, b, "q"); len(p.Draining) != 1 {
			t.Fatalf("%v after the change (DrainGrace %v): Partitions = %+v, want the old one still draining", time.Since(start), grace, p)
		}
	}
	deliver(t, stale, "t", "f", "stale")
	if m := eventuallyPull(t, b, "q"); string(m.Body) != "stale" {
		t.Fatalf("pulled %q, want the stale producer's message", m.Body)
	} else {
		ack(t, b, m)
	}
	testutil.Eventually(t, waitTimeout+grace, func() bool {
		pullNone(t, b, "q")
		return len(partitionsOf(t, b, "q").Draining) == 0
	}, "the old partition dropped once DrainGrace has passed")
	if elapsed := time.Since(start); elapsed < grace {
		t.Fatalf("dropped %v after the change, before DrainGrace %v", elapsed, grace)
	}
}
