package main

import (
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer starts a private redis-server for a test, or skips the test
// when there is none (unless FAIRWAY_REQUIRE_REDIS is set).
func testServer(t *testing.T) *env {
	t.Helper()
	bin, err := redisBinary()
	if err != nil {
		if os.Getenv("FAIRWAY_REQUIRE_REDIS") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	srv, err := startRedis(t.Context(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	e := testEnv(io.Discard)
	e.srv = srv
	return e
}

func TestCeilingPullsFacetsRoundRobin(t *testing.T) {
	t.Parallel()
	e := testServer(t)
	ctx := t.Context()
	c := newCeiling(e, "rr")
	defer c.close()
	// a has 3 messages, b 1, c 2, queued in two batches.
	if err := c.enqueue(ctx, []ceilingMessage{{"a", []byte("a1")}, {"a", []byte("a2")}, {"b", []byte("b1")}}); err != nil {
		t.Fatal(err)
	}
	if err := c.enqueue(ctx, []ceilingMessage{{"c", []byte("c1")}, {"a", []byte("a3")}, {"c", []byte("c2")}}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.ready(ctx); err != nil || n != 6 {
		t.Fatalf("ready = %d, %v; want 6", n, err)
	}
	// More than there are facets in one pull: the ring goes round.
	got, err := c.pull(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range got {
		_, body, _ := strings.Cut(m.msg, " ")
		if !strings.HasPrefix(body, m.facet) {
			t.Errorf("message %q came with facet %q", m.msg, m.facet)
		}
		bodies = append(bodies, body)
	}
	if want := []string{"a1", "b1", "c1", "a2", "c2"}; !slices.Equal(bodies, want) {
		t.Fatalf("pulled %v, want %v", bodies, want)
	}
	if n, err := c.unfinished(ctx); err != nil || n != 6 {
		t.Fatalf("unfinished = %d, %v; want 6 (1 ready, 5 leased)", n, err)
	}
	rest, err := c.pull(ctx, 5)
	if err != nil || len(rest) != 1 || !strings.HasSuffix(rest[0].msg, " a3") {
		t.Fatalf("second pull %v, %v; want a3 alone", rest, err)
	}
	if ring, _ := c.rdb.LLen(ctx, c.ring).Result(); ring != 0 {
		t.Fatalf("%d facets left in the ring of an empty queue", ring)
	}
	var msgs []string
	for _, m := range append(got, rest...) {
		msgs = append(msgs, m.msg)
	}
	if err := c.ack(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if n, err := c.unfinished(ctx); err != nil || n != 0 {
		t.Fatalf("unfinished after the ack = %d, %v", n, err)
	}
	if err := c.ack(ctx, msgs[:1]); err == nil {
		t.Fatal("a second ack of a settled message succeeded")
	}
}

func TestCeilingWorkerHandlesEveryMessage(t *testing.T) {
	t.Parallel()
	e := testServer(t)
	ctx := t.Context()
	c := newCeiling(e, "worker")
	defer c.close()
	const n = 2500
	if _, err := ceilingFill(ctx, c, n); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[string]bool)
	w := startCeilingWorker(c, e2eConcurrency, func(m ceilingPulled) {
		mu.Lock()
		defer mu.Unlock()
		if seen[m.msg] {
			t.Errorf("message %q handled twice", m.msg)
		}
		seen[m.msg] = true
	})
	ok, err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		left, err := c.unfinished(ctx)
		return left == 0, err
	})
	if stopErr := w.stop(); err == nil {
		err = stopErr
	}
	if err != nil || !ok {
		t.Fatalf("drained %v, %v", ok, err)
	}
	if len(seen) != n {
		t.Fatalf("handled %d messages, want %d", len(seen), n)
	}
}
