package broker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{})
	t.Cleanup(func() { _ = rdb.Close() })
	b, err := broker.New(rdb, broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := b.Config()
	if b.Namespace() != "fairway" || cfg.LeaseDuration != 30*time.Second || cfg.MaxAttempts != 25 ||
		cfg.DeadLetterCap != 10000 || cfg.MaxMessageBytes != 1<<20 {
		t.Fatalf("defaults: namespace %q, config %+v", b.Namespace(), cfg)
	}
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := []struct {
			name         string
			msg          map[string]any
			topic, facet string
		}{
			{"empty", map[string]any{"x": 1}, "default", "default"},
			{"facet", map[string]any{"facet": "acme"}, "default", "acme"},
			{"numeric facet", map[string]any{"facet": 42}, "default", "42"},
			{"empty facet", map[string]any{"facet": ""}, "default", "default"},
			{"topic", map[string]any{"topic": "orders.created"}, "orders.created", "default"},
			{"topic beats type", map[string]any{"topic": "a", "type": "b"}, "a", "default"},
			{"type", map[string]any{"type": "user.signup", "facet": "u1"}, "user.signup", "u1"},
			{"empty topic falls back to type", map[string]any{"topic": "", "type": "b"}, "b", "default"},
			{"topic named default", map[string]any{"topic": "default", "type": "b"}, "default", "default"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				if err := b.Deliver(t.Context(), tc.msg); err != nil {
					t.Fatal(err)
				}
				m := pull(t, b, "q")
				if m.Topic != tc.topic || m.Facet != tc.facet {
					t.Errorf("topic %q, facet %q; want %q, %q", m.Topic, m.Facet, tc.topic, tc.facet)
				}
				var got map[string]any
				if err := json.Unmarshal(m.Body, &got); err != nil || len(got) != len(tc.msg) {
					t.Errorf("body %s does not decode to %v: %v", m.Body, tc.msg, err)
				}
			})
		}
	})
}

func TestNewCustomFuncs(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{
			Facet: func(msg map[string]any) string { return "tenant-" + fmt.Sprint(msg["tenant"]) },
			Topic: func(msg map[string]any) string { return "evt." + fmt.Sprint(msg["kind"]) },
		})
		if err := b.Deliver(t.Context(), map[string]any{"tenant": 7, "kind": "paid", "facet": "x", "topic": "y"}); err != nil {
			t.Fatal(err)
		}
		if m := pull(t, b, "q"); m.Topic != "evt.paid" || m.Facet != "tenant-7" {
			t.Fatalf("topic %q, facet %q; want evt.paid, tenant-7", m.Topic, m.Facet)
		}
	})
}

func TestNewInvalid(t *testing.T) {
	t.Parallel()
	if _, err := broker.New(nil, broker.Config{}); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Errorf("New(nil) = %v, want ErrInvalidConfig", err)
	}
	tests := map[string]broker.Config{
		"namespace with space": {Namespace: "a b"},
		"namespace with colon": {Namespace: "a:b"},
		"namespace too long":   {Namespace: strings.Repeat("n", 65)},
		"lease below 1ms":      {LeaseDuration: time.Microsecond},
		"negative lease":       {LeaseDuration: -time.Second},
		"negative attempts":    {MaxAttempts: -1},
		"negative dead cap":    {DeadLetterCap: -1},
		"negative max bytes":   {MaxMessageBytes: -1},
		"negative idem window": {IdempotencyWindow: -time.Second},
		"negative reclaim":     {ReclaimBatch: -1},
		"replay window < 1s":   {ReplayWindow: 500 * time.Millisecond},
		"negative replay":      {ReplayWindow: -time.Second},
	}
	rdb := redis.NewClient(&redis.Options{})
	t.Cleanup(func() { _ = rdb.Close() })
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := broker.New(rdb, cfg)
			if !errors.Is(err, broker.ErrInvalidConfig) || b != nil {
				t.Fatalf("New(%+v) = %v, %v; want nil, ErrInvalidConfig", cfg, b, err)
			}
		})
	}
}

func TestDeliverBatch(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "orders", `^orders\.`)
		register(t, b, "all", ".")
		var ds []broker.Delivery
		want := map[string][]string{} // queue -> "facet:body" per facet, in order
		for i := range 60 {
			topic := []string{"orders.created", "users.signup", "orders.paid"}[i%3]
			facet := fmt.Sprintf("f%d", i%4)
			body := fmt.Sprintf("m%02d", i)
			ds = append(ds, broker.Delivery{Topic: topic, Facet: facet, Body: []byte(body)})
			want["all"] = append(want["all"], facet+":"+body)
			if strings.HasPrefix(topic, "orders.") {
				want["orders"] = append(want["orders"], facet+":"+body)
			}
		}
		if err := b.DeliverBatch(t.Context(), ds); err != nil {
			t.Fatal(err)
		}
		for queue, w := range want {
			got := drain(t, b, queue)
			if !slices.Equal(byFacet(got), byFacet(w)) {
				t.Errorf("%s: got %v, want %v (in order per facet)", queue, got, w)
			}
		}
		if err := b.DeliverBatch(t.Context(), nil); err != nil {
			t.Errorf("empty DeliverBatch: %v", err)
		}
	})
}

// byFacet orders "facet:body" strings by facet, keeping the order within
// each facet.
func byFacet(s []string) []string {
	out := slices.Clone(s)
	slices.SortStableFunc(out, func(a, b string) int {
		fa, _, _ := strings.Cut(a, ":")
		fb, _, _ := strings.Cut(b, ":")
		return strings.Compare(fa, fb)
	})
	return out
}

func TestDeliverDelay(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		tests := map[string]func(b *broker.Broker) error{
			"DeliverBytes": func(b *broker.Broker) error {
				return b.DeliverBytes(t.Context(), "t", "f", []byte("x"), broker.WithDelay(delay))
			},
			"Deliver": func(b *broker.Broker) error {
				return b.Deliver(t.Context(), map[string]any{"facet": "f"}, broker.WithDelay(delay))
			},
			"DeliverBatch": func(b *broker.Broker) error {
				return b.DeliverBatch(t.Context(), []broker.Delivery{{Topic: "t", Facet: "f", Body: []byte("x"), Delay: delay}})
			},
		}
		for name, send := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := newQueue(t, rdb, broker.Config{})
				start := redisNow(t, rdb)
				if err := send(b); err != nil {
					t.Fatal(err)
				}
				pullNone(t, b, "q")
				wantStats(t, b, "q", broker.QueueStats{Delayed: 1, Routed: true})
				m := eventuallyPull(t, b, "q")
				// Redis's clock is read to the millisecond, rounded down.
				if elapsed := redisNow(t, rdb).Sub(start); elapsed < delay-time.Millisecond {
					t.Fatalf("pulled %v after delivery, before the delay of %v", elapsed, delay)
				}
				if m.Facet != "f" || m.Attempt != 1 {
					t.Fatalf("pulled %v", m)
				}
			})
		}
	})
}

func TestDeliverIdempotencyKey(t *testing.T) {
	t.Parallel()
	const window = 200 * time.Millisecond
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "q1", ".")
		register(t, b, "q2", ".")
		deliver(t, b, "t", "f", "first", broker.WithIdempotencyKey("k", window))
		first := redisNow(t, rdb) // not before the first delivery
		deliver(t, b, "t", "f", "second", broker.WithIdempotencyKey("k", window))
		deliver(t, b, "t", "f", "other key", broker.WithIdempotencyKey("k2", window))
		deliver(t, b, "t", "f", "default window", broker.WithIdempotencyKey("k3", 0))
		deliver(t, b, "t", "f", "default window again", broker.WithIdempotencyKey("k3", 0))
		wantStats(t, b, "q1", broker.QueueStats{Ready: 3, Facets: 1, Routed: true})
		waitRedisPast(t, rdb, first.Add(window))
		deliver(t, b, "t", "f", "after window", broker.WithIdempotencyKey("k", window))
		deliver(t, b, "t", "f", "default window, later", broker.WithIdempotencyKey("k3", 0))
		for _, q := range []string{"q1", "q2"} {
			want := []string{"f:first", "f:other key", "f:default window", "f:after window"}
			if got := drain(t, b, q); !slices.Equal(got, want) {
				t.Errorf("%s: got %q, want %q", q, got, want)
			}
		}
	})
}

// Two deliveries of one batch with the same key: the first is queued.
func TestDeliverIdempotencyKeyTwiceInABatch(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		err := b.DeliverBatch(t.Context(), []broker.Delivery{
			{Topic: "t", Facet: "a", Body: []byte("delayed"), Delay: time.Hour},
			{Topic: "t", Facet: "g", Body: []byte("first"), IdempotencyKey: "k"},
			{Topic: "t", Facet: "b", Body: []byte("second"), IdempotencyKey: "k"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := drain(t, b, "q"); !slices.Equal(got, []string{"g:first"}) {
			t.Fatalf("got %q, want only the first of the key", got)
		}
	})
}

func TestDeliverHeaders(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		h := map[string]string{"traceparent": "00-abc-def-01", "user": "ünï", "": "empty key", "empty": ""}
		orig := maps.Clone(h)
		deliver(t, b, "t", "f", "with", broker.WithHeaders(h), broker.WithHeaders(map[string]string{"more": "1"}))
		if err := b.Deliver(t.Context(), map[string]any{"facet": "f"}, broker.WithHeaders(h)); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "t", "f", "without")
		want := maps.Clone(h)
		want["more"] = "1"
		if m := pull(t, b, "q"); !maps.Equal(m.Headers, want) {
			t.Errorf("DeliverBytes: headers %q, want %q", m.Headers, want)
		}
		if m := pull(t, b, "q"); !maps.Equal(m.Headers, h) {
			t.Errorf("Deliver: headers %q, want %q", m.Headers, h)
		}
		if m := pull(t, b, "q"); len(m.Headers) != 0 {
			t.Errorf("no headers delivered, got %q", m.Headers)
		}
		if !maps.Equal(h, orig) {
			t.Errorf("caller's headers changed to %q", h)
		}
	})
}
