package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// receive waits for the next event of s.
func receive(t *testing.T, s *broker.Subscription) *broker.Event {
	t.Helper()
	select {
	case ev, ok := <-s.Channel():
		if !ok {
			t.Fatal("subscription channel closed")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatal("no event")
	}
	return nil
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		sub, err := b.Subscribe(ctx, "orders.*")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })

		msg := map[string]any{"topic": "orders.created", "facet": "acme", "n": 1}
		if err := b.Deliver(ctx, msg); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "users.signup", "f", "not for this subscription")
		deliver(t, b, "orders.paid", "f", "\x00binary\xff")
		err = b.DeliverBatch(ctx, []broker.Delivery{
			{Topic: "payments.done", Facet: "f", Body: []byte("no")},
			{Topic: "orders.shipped", Facet: "f", Body: []byte("batched")},
		})
		if err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "orders.last", "f", "marker")

		body, _ := json.Marshal(msg)
		want := []broker.Event{
			{Topic: "orders.created", Body: body},
			{Topic: "orders.paid", Body: []byte("\x00binary\xff")},
			{Topic: "orders.shipped", Body: []byte("batched")},
			{Topic: "orders.last", Body: []byte("marker")}, // nothing else came before it
		}
		for _, w := range want {
			if ev := receive(t, sub); ev.Topic != w.Topic || string(ev.Body) != string(w.Body) {
				t.Fatalf("event %q %q, want %q %q", ev.Topic, ev.Body, w.Topic, w.Body)
			}
		}
		if got := stats(t, b, "q").Ready; got != 6 {
			t.Fatalf("queued %d messages, want 6 (publishing is not instead of queueing)", got)
		}
	})
}

// Deliveries are published on "<namespace>:<topic>", as other Redis clients
// see it.
func TestPublishChannel(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		ps := rdb.Subscribe(ctx, b.Namespace()+":t.1")
		t.Cleanup(func() { _ = ps.Close() })
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t.1", "f", "raw") // no queue matches: published all the same
		if err := b.Deliver(ctx, map[string]any{"topic": "t.1"}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"raw", `{"topic":"t.1"}`} {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Channel != b.Namespace()+":t.1" || m.Payload != want {
				t.Fatalf("got %q on %q, want %q", m.Payload, m.Channel, want)
			}
		}
	})
}

func TestSubscriptionEnds(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := map[string]func(cancel context.CancelFunc, s *broker.Subscription){
			"context canceled": func(cancel context.CancelFunc, _ *broker.Subscription) { cancel() },
			"Close":            func(_ context.CancelFunc, s *broker.Subscription) { _ = s.Close() },
		}
		for name, end := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := newBroker(t, rdb, broker.Config{})
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				sub, err := b.Subscribe(ctx, "*")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sub.Close() })
				deliver(t, b, "t", "f", "before")
				if ev := receive(t, sub); string(ev.Body) != "before" {
					t.Fatalf("got %q", ev.Body)
				}
				end(cancel, sub)
				testutil.Eventually(t, waitTimeout, func() bool {
					select {
					case _, ok := <-sub.Channel():
						return !ok
					default:
						return false
					}
				}, "the channel to close")
				if err := sub.Close(); err != nil {
					t.Fatalf("Close after the end: %v", err)
				}
			})
		}
	})
}

// A delivery that a Redis at its memory limit refuses is published to no
// subscriber: the enqueue script publishes only once it has written.
func TestNoEventForARefusedDelivery(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t, "--maxmemory-policy", "noeviction")
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	b := newQueue(t, rdb, broker.Config{})
	sub, err := b.Subscribe(ctx, "t.*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	deliver(t, b, "t.warm", "a", "warm") // loads the script; routes the topic
	if ev := receive(t, sub); string(ev.Body) != "warm" {
		t.Fatalf("first event %q, want warm", ev.Body)
	}
	// A limit below what the server uses: it refuses every write that may
	// grow memory, as at the limit.
	info, err := rdb.InfoMap(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	used, err := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", fmt.Sprint(used/2)).Err(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := b.DeliverBytes(ctx, "t.refused", "a", []byte("refused")); err == nil {
			t.Fatal("Deliver at the memory limit returned nil")
		}
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	deliver(t, b, "t.after", "a", "after")
	for ev := receive(t, sub); string(ev.Body) != "after"; ev = receive(t, sub) {
		t.Errorf("event %s %q after the refused deliveries, want none before after", ev.Topic, ev.Body)
	}
}

// A glob with an unclosed "[" is refused before anything reaches Redis,
// which would take it and then match almost nothing.
func TestSubscribeRefusesBadGlob(t *testing.T) {
	t.Parallel()
	for pattern, ok := range map[string]bool{
		"*": true, "orders.*": true, "orders.?": true, "[ab]*": true, "[^a]x": true,
		"[a-z].*": true, `\[literal`: true, `[\]]`: true, "[]": true, `trailing\`: true,
		"[bad": false, "x[": false, "ok.[a": false, `[a\]`: false, "[a-]": false, "[^": false,
		"": false,
	} {
		err := broker.ValidateSubscribePattern(pattern)
		if ok != (err == nil) || err != nil && !errors.Is(err, broker.ErrInvalidPattern) {
			t.Errorf("ValidateSubscribePattern(%q) = %v, want ok %v (or ErrInvalidPattern)", pattern, err, ok)
		}
	}
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		sub, err := b.Subscribe(t.Context(), "[bad")
		if !errors.Is(err, broker.ErrInvalidPattern) || sub != nil || !strings.Contains(err.Error(), "no \"]\"") {
			t.Fatalf("Subscribe([bad) = %v, %v; want ErrInvalidPattern", sub, err)
		}
	})
}
