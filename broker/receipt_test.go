package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// warnings is a slog.Handler that keeps the messages and topics of the
// records it gets.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	s := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += " " + a.String()
		return true
	})
	w.mu.Lock()
	w.msgs = append(w.msgs, s)
	w.mu.Unlock()
	return nil
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// A receipt names the message's ID and every queue it reached, sorted, for
// each way to deliver; a delivery that reached no queue has an ID and no
// queues.
func TestReceipt(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		w := &warnings{}
		b := newBroker(t, rdb, broker.Config{Logger: slog.New(w)})
		register(t, b, "zeta", `^order\.`)
		register(t, b, "alpha", `created$`)
		var r1, r2, r3, r4 broker.Receipt
		deliver(t, b, "order.created", "f", "bytes", broker.WithReceipt(&r1))
		if err := b.Deliver(ctx, map[string]any{"topic": "order.paid"}, broker.WithReceipt(&r2)); err != nil {
			t.Fatal(err)
		}
		err := b.DeliverBatch(ctx, []broker.Delivery{
			{Topic: "user.created", Facet: "f", Body: []byte("batch"), Receipt: &r3},
			{Topic: "nobody.listens", Facet: "f", Body: []byte("lost"), Receipt: &r4},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			r    broker.Receipt
			want []string
		}{{r1, []string{"alpha", "zeta"}}, {r2, []string{"zeta"}}, {r3, []string{"alpha"}}, {r4, nil}} {
			if tc.r.ID == "" || !slices.Equal(tc.r.Queues, tc.want) {
				t.Errorf("receipt %+v, want an ID and queues %v", tc.r, tc.want)
			}
		}
		if got := w.all(); len(got) != 1 || !strings.Contains(got[0], "topic=nobody.listens") {
			t.Errorf("logged %q, want a warning of topic nobody.listens", got)
		}
		ids := map[string][]string{} // queue -> IDs pulled
		for _, q := range []string{"alpha", "zeta"} {
			for m, err := b.Pull(ctx, q); m != nil || err != nil; m, err = b.Pull(ctx, q) {
				if err != nil {
					t.Fatal(err)
				}
				ids[q] = append(ids[q], m.ID)
			}
		}
		if want := []string{r1.ID, r3.ID}; !slices.Equal(ids["alpha"], want) {
			t.Errorf("alpha has %v, want %v", ids["alpha"], want)
		}
		if want := []string{r1.ID, r2.ID}; !slices.Equal(ids["zeta"], want) {
			t.Errorf("zeta has %v, want %v", ids["zeta"], want)
		}
	})
}

// A partitioned queue is named in a receipt by its registered name, once,
// whichever partition has the message, also on a Cluster.
func TestReceiptPartitioned(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		if err := b.RegisterQueue(ctx, "parts", "^t$", broker.WithPartitions(3)); err != nil {
			t.Fatal(err)
		}
		register(t, b, "plain", ".")
		ds := make([]broker.Delivery, 12)
		rs := make([]broker.Receipt, len(ds))
		for i := range ds {
			ds[i] = broker.Delivery{Topic: "t", Facet: fmt.Sprint("f", i), Body: []byte("x"), Receipt: &rs[i]}
		}
		if err := b.DeliverBatch(ctx, ds); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range rs {
			if !slices.Equal(r.Queues, []string{"parts", "plain"}) || seen[r.ID] {
				t.Fatalf("receipt %+v, want a new ID and queues [parts plain]", r)
			}
			seen[r.ID] = true
		}
		if got := stats(t, b, "parts").Ready; got != int64(len(ds)) {
			t.Fatalf("parts has %d ready, want %d", got, len(ds))
		}
	})
}

// Concurrent deliveries that share a batch each get their own message's
// receipt.
func TestReceiptCoalesced(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		register(t, b, "odd", "^odd$")
		const n = 64
		rs := make([]broker.Receipt, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				topic := []string{"even", "odd"}[i%2]
				if err := b.DeliverBytes(ctx, topic, "f", fmt.Append(nil, i), broker.WithReceipt(&rs[i])); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		byID := map[string]int{}
		for i, r := range rs {
			want := []string{"q"}
			if i%2 == 1 {
				want = []string{"odd", "q"}
			}
			if !slices.Equal(r.Queues, want) {
				t.Errorf("delivery %d: queues %v, want %v", i, r.Queues, want)
			}
			byID[r.ID] = i
		}
		for range n {
			m := pull(t, b, "q")
			if i, ok := byID[m.ID]; !ok || string(m.Body) != fmt.Sprint(i) {
				t.Fatalf("message %s with body %q: its receipt is delivery %d (%v)", m.ID, m.Body, i, ok)
			}
		}
	})
}

// receiveNext fails t unless the next event of sub is topic's: no event
// came before it.
func receiveNext(t *testing.T, sub *broker.Subscription, topic string) {
	t.Helper()
	if ev := receive(t, sub); ev.Topic != topic {
		t.Fatalf("event of topic %q came before %q", ev.Topic, topic)
	}
}

// A delivery that requires a queue and matches none fails with ErrNoQueue
// naming its topic, and writes nothing: no key changes, no subscriber hears
// of it, and in a batch no delivery is made.
func TestRequireQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "orders", `^order\.`)
		sub, err := b.Subscribe(ctx, "*")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Close() })
		deliver(t, b, "order.first", "f", "x") // the registry is cached now
		receiveNext(t, sub, "order.first")
		before := snapshot(t, b)
		var r broker.Receipt
		err = b.DeliverBytes(ctx, "oder.typo", "f", []byte("x"), broker.RequireQueue(), broker.WithReceipt(&r))
		if !errors.Is(err, broker.ErrNoQueue) || !strings.Contains(err.Error(), `"oder.typo"`) {
			t.Fatalf("DeliverBytes to a topic no queue matches: %v, want ErrNoQueue naming it", err)
		}
		if r.ID != "" {
			t.Errorf("a refused delivery filled its receipt: %+v", r)
		}
		err = b.DeliverBatch(ctx, []broker.Delivery{
			{Topic: "order.ok", Facet: "f", Body: []byte("1")},
			{Topic: "user.typo", Facet: "f", Body: []byte("2"), Unrouted: broker.UnroutedReject},
			{Topic: "public.news", Facet: "f", Body: []byte("3")}, // publish-only by default
			{Topic: "mail.typo", Facet: "f", Body: []byte("4"), Unrouted: broker.UnroutedReject},
		})
		if !errors.Is(err, broker.ErrNoQueue) || !strings.Contains(err.Error(), `delivery 1 topic "user.typo", delivery 3 topic "mail.typo"`) {
			t.Fatalf("DeliverBatch: %v, want ErrNoQueue naming deliveries 1 and 3", err)
		}
		many := make([]broker.Delivery, 12)
		for i := range many {
			many[i] = broker.Delivery{Topic: fmt.Sprint("typo.", i), Facet: "f", Unrouted: broker.UnroutedReject}
		}
		if err := b.DeliverBatch(ctx, many); !errors.Is(err, broker.ErrNoQueue) ||
			!strings.Contains(err.Error(), `delivery 9 topic "typo.9" and 2 more; no delivery of the batch was made`) {
			t.Fatalf("DeliverBatch of 12 with no queue: %v, want ErrNoQueue naming 10 and counting 2 more", err)
		}
		if after := snapshot(t, b); !equalMaps(before, after) {
			t.Fatalf("a refused delivery changed Redis:\nbefore %v\nafter  %v", before, after)
		}
		deliver(t, b, "order.last", "f", "marker", broker.RequireQueue())
		receiveNext(t, sub, "order.last")
		if got := stats(t, b, "orders").Ready; got != 2 {
			t.Fatalf("orders has %d ready, want the first and the last", got)
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Config.Unrouted makes every delivery require a queue; PublishOnly lets
// one go to subscribers alone, and the others still work.
func TestConfigUnrouted(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		w := &warnings{}
		b := newQueue(t, rdb, broker.Config{Unrouted: broker.UnroutedReject, Logger: slog.New(w)})
		register(t, b, "r", "^reached$")
		if err := b.UnregisterQueue(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if err := b.Deliver(ctx, map[string]any{"topic": "typo"}); !errors.Is(err, broker.ErrNoQueue) {
			t.Fatalf("Deliver under UnroutedReject: %v, want ErrNoQueue", err)
		}
		var r broker.Receipt
		if err := b.Deliver(ctx, map[string]any{"topic": "news"}, broker.PublishOnly(), broker.WithReceipt(&r)); err != nil {
			t.Fatalf("Deliver with PublishOnly: %v", err)
		}
		if r.ID == "" || len(r.Queues) != 0 {
			t.Fatalf("PublishOnly receipt %+v, want an ID and no queues", r)
		}
		if err := b.Deliver(ctx, map[string]any{"topic": "reached"}); err != nil {
			t.Fatal(err)
		}
		if got := w.all(); len(got) != 0 {
			t.Fatalf("logged %q; a delivery that asked to be publish-only is no cause for a warning", got)
		}
	})
}

// A delivery that requires a queue is checked against the registry in
// Redis, not a stale cache: a queue another process registered is found.
func TestRequireQueueStaleCache(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "q", "^t$")
		deliver(t, b, "t", "f", "caches the registry")
		other := newBroker(t, rdb, broker.Config{Namespace: b.Namespace()})
		register(t, other, "new", "^new$")
		var r broker.Receipt
		deliver(t, b, "new", "f", "x", broker.RequireQueue(), broker.WithReceipt(&r))
		if !slices.Equal(r.Queues, []string{"new"}) {
			t.Fatalf("receipt %+v, want queues [new]", r)
		}
	})
}

// A queue unregistered after the check and before the write leaves the
// delivery with no queue: a delivery that required one fails with
// ErrNoQueue saying so, and its receipt says it reached none; a delivery
// left to the default succeeds with no queues and a warning.
func TestUnregisteredDuringDelivery(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, require := range []bool{true, false} {
			t.Run(fmt.Sprint("require=", require), func(t *testing.T) {
				ctx := t.Context()
				w := &warnings{}
				var client redis.UniversalClient
				if _, ok := rdb.(*redis.ClusterClient); ok {
					client = testutil.RealCluster(t) // a client of its own, for the hook
				} else {
					client = newClient(t, rdb)
				}
				b := newBroker(t, client, broker.Config{Logger: slog.New(w)})
				register(t, b, "gone", ".")
				admin := newBroker(t, rdb, broker.Config{Namespace: b.Namespace()})
				prefix := b.Namespace() + ":{gone}:"
				client.AddHook(&beforeEnqueue{prefix: prefix, before: func() {
					if err := admin.UnregisterQueue(ctx, "gone"); err != nil {
						t.Error(err)
					}
				}})
				var r broker.Receipt
				opts := []broker.DeliverOption{broker.WithReceipt(&r)}
				if require {
					opts = append(opts, broker.RequireQueue())
				}
				err := b.DeliverBytes(ctx, "t", "f", []byte("x"), opts...)
				switch {
				case require && (!errors.Is(err, broker.ErrNoQueue) || !strings.Contains(err.Error(), "during the call: it was published and queued nowhere")):
					t.Fatalf("DeliverBytes: %v, want ErrNoQueue saying the queue went away", err)
				case !require && err != nil:
					t.Fatalf("DeliverBytes: %v", err)
				}
				if r.ID == "" || len(r.Queues) != 0 {
					t.Fatalf("receipt %+v, want an ID and no queues", r)
				}
				if got := w.all(); require && len(got) != 0 || !require && len(got) != 1 {
					t.Fatalf("logged %q", got)
				}
				if n := hlen(t, b, "gone", "msgs"); n != 0 {
					t.Fatalf("the unregistered queue stored %d messages", n)
				}
			})
		}
	})
}

// A delivery left to the default that reaches no queue is logged, once per
// topic, and the broker stops after MaxUnroutedWarned topics.
func TestUnroutedWarnsOncePerTopic(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		w := &warnings{}
		b := newBroker(t, rdb, broker.Config{Logger: slog.New(w)})
		register(t, b, "q", "^routed$")
		for _, topic := range []string{"a", "routed", "a", "b", "a"} {
			deliver(t, b, topic, "f", "x")
		}
		got := w.all()
		if len(got) != 2 || !strings.HasPrefix(got[0], "WARN ") || !strings.Contains(got[0], "topic=a") || !strings.Contains(got[1], "topic=b") {
			t.Fatalf("logged %q, want one warning for a, one for b", got)
		}
		ds := make([]broker.Delivery, broker.MaxUnroutedWarned+10)
		for i := range ds {
			ds[i] = broker.Delivery{Topic: fmt.Sprint("flood.", i), Facet: "f", Body: []byte("x")}
		}
		if err := b.DeliverBatch(ctx, ds); err != nil {
			t.Fatal(err)
		}
		deliver(t, b, "c", "f", "x")
		got = w.all()
		if len(got) != broker.MaxUnroutedWarned+1 || !strings.Contains(got[len(got)-1], "no more warnings") {
			t.Fatalf("logged %d warnings, last %q; want %d and a last that says it stops", len(got), got[len(got)-1], broker.MaxUnroutedWarned+1)
		}
	})
}

// Bad receipt and policy arguments fail with a clear error and deliver
// nothing.
func TestReceiptInvalid(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		var shared broker.Receipt
		for _, tc := range []struct {
			name string
			call func() error
			want error
		}{
			{"WithReceipt(nil)", func() error { return b.DeliverBytes(ctx, "t", "f", nil, broker.WithReceipt(nil)) }, broker.ErrInvalidArgument},
			{"WithReceipt(nil) to Deliver", func() error { return b.Deliver(ctx, map[string]any{}, broker.WithReceipt(nil)) }, broker.ErrInvalidArgument},
			{"nil option", func() error { return b.DeliverBytes(ctx, "t", "f", nil, nil) }, broker.ErrInvalidArgument},
			{"shared receipt", func() error {
				return b.DeliverBatch(ctx, []broker.Delivery{
					{Topic: "t", Facet: "f", Receipt: &shared}, {Topic: "t", Facet: "f", Receipt: &shared}})
			}, broker.ErrInvalidArgument},
			{"bad policy", func() error {
				return b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: "f", Unrouted: 7}})
			}, broker.ErrInvalidArgument},
			{"DeliverJSON WithReceipt(nil)", func() error {
				_, err := broker.DeliverJSON(ctx, b, "t", "f", 1, broker.WithReceipt(nil))
				return err
			}, broker.ErrInvalidArgument},
		} {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if st := stats(t, b, "q"); st.Ready != 0 {
			t.Fatalf("bad calls queued %d messages", st.Ready)
		}
		if shared.ID != "" {
			t.Fatalf("a refused batch filled a receipt: %+v", shared)
		}
	})
	client := redis.NewClient(&redis.Options{})
	t.Cleanup(func() { _ = client.Close() })
	if _, err := broker.New(client, broker.Config{Unrouted: 9}); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Fatalf("New with Unrouted 9: %v, want ErrInvalidConfig", err)
	}
}

// order is a typed message for DeliverJSON.
type order struct {
	ID    int      `json:"id"`
	Items []string `json:"items"`
}

// DeliverJSON's body is exactly json.Marshal of the value, with no topic or
// facet added, and it returns the ID handlers see.
func TestDeliverJSON(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		v := order{ID: 7, Items: []string{"tea"}}
		var r broker.Receipt
		id, err := broker.DeliverJSON(ctx, b, "order.created", "acme", v, broker.WithHeaders(map[string]string{"k": "v"}), broker.WithReceipt(&r))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(v)
		m := pull(t, b, "q")
		if m.ID != id || r.ID != id || string(m.Body) != string(want) || m.Topic != "order.created" || m.Facet != "acme" || m.Headers["k"] != "v" {
			t.Fatalf("DeliverJSON = %q (receipt %+v); pulled %s %s/%s %s %v, want body %s", id, r, m.ID, m.Topic, m.Facet, m.Body, m.Headers, want)
		}
		var back order
		if err := json.Unmarshal(m.Body, &back); err != nil || back.ID != v.ID || !slices.Equal(back.Items, v.Items) {
			t.Fatalf("decoded %+v (%v), want %+v", back, err, v)
		}
		if _, err := broker.DeliverJSON(ctx, b, "typo", "f", v, broker.RequireQueue()); err != nil {
			t.Fatalf("every topic has queue q: %v", err)
		}
		for _, tc := range []struct {
			name string
			call func() (string, error)
			want error
		}{
			{"channel", func() (string, error) { return broker.DeliverJSON(ctx, b, "t", "f", make(chan int)) }, broker.ErrInvalidMessage},
			{"func field", func() (string, error) {
				return broker.DeliverJSON(ctx, b, "t", "f", struct{ F func() }{F: func() {}})
			}, broker.ErrInvalidMessage},
			{"nil broker", func() (string, error) { return broker.DeliverJSON(ctx, nil, "t", "f", v) }, broker.ErrInvalidArgument},
			{"bad topic", func() (string, error) { return broker.DeliverJSON(ctx, b, "", "f", v) }, broker.ErrInvalidTopic},
		} {
			if id, err := tc.call(); !errors.Is(err, tc.want) || id != "" {
				t.Errorf("%s: %q, %v; want %v", tc.name, id, err, tc.want)
			}
		}
		if got := stats(t, b, "q").Ready; got != 1 {
			t.Fatalf("q has %d ready, want the one typo delivery", got)
		}
	})
}

// A producer whose registry cache is stale gets a receipt of where the
// rerouted delivery went: a queue registered since, not one whose pattern
// moved away, and a partitioned queue whose old partitions were dropped,
// by its name.
func TestReceiptAfterReroute(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		cfg := broker.Config{DrainGrace: time.Millisecond}
		admin := partitioned(t, rdb, cfg, 1)
		cfg.Namespace = admin.Namespace()
		producer := newBroker(t, rdb, cfg)
		register(t, admin, "moving", "^a$")
		const facets = 4
		for f := range facets {
			deliver(t, producer, "a", fmt.Sprint("f", f), "warm") // the cache routes by 1 partition
		}
		drain(t, admin, "q")
		drain(t, admin, "moving")
		register(t, admin, "new", "^a$")
		if err := admin.RegisterQueue(ctx, "moving", "^b$", broker.ReplacePattern()); err != nil {
			t.Fatal(err)
		}
		if err := admin.SetPartitions(ctx, "q", 3); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, waitTimeout, func() bool {
			pullNone(t, admin, "q")
			return len(partitionsOf(t, admin, "q").Draining) == 0
		}, "the old partition dropped")
		for f := range facets {
			var r broker.Receipt
			deliver(t, producer, "a", fmt.Sprint("f", f), "late", broker.WithReceipt(&r), broker.RequireQueue())
			if !slices.Equal(r.Queues, []string{"new", "q"}) {
				t.Fatalf("receipt %+v, want queues [new q]", r)
			}
		}
		if got := len(drain(t, admin, "q")); got != facets {
			t.Fatalf("q has %d messages, want %d", got, facets)
		}
	})
}

// A delivery whose reply is lost after Redis ran it, and which go-redis
// sends again, gets the receipt of the first run: the same ID, and the
// queues that have it.
func TestReceiptReplayed(t *testing.T) {
	t.Parallel()
	for _, queues := range [][]string{{"q"}, {"other", "q"}} {
		t.Run(strings.Join(queues, "+"), func(t *testing.T) {
			t.Parallel()
			lossy, direct, p := lossyBroker(t, 200*time.Millisecond)
			if len(queues) > 1 {
				register(t, direct, "other", "^t$")
			}
			var r broker.Receipt
			deliver(t, lossy, "warm", "f", "loads the registry")
			ack(t, direct, pull(t, direct, "q"))
			p.DropNext(1)
			deliver(t, lossy, "t", "f", "x", broker.WithReceipt(&r), broker.RequireQueue())
			requireDropped(t, p, 1)
			if !slices.Equal(r.Queues, queues) {
				t.Fatalf("receipt %+v, want queues %v", r, queues)
			}
			for _, q := range queues {
				if m := pull(t, direct, q); m.ID != r.ID {
					t.Fatalf("%s has %s, the receipt says %s", q, m.ID, r.ID)
				}
				pullNone(t, direct, q)
			}
		})
	}
}

// beforeEnqueue is a go-redis hook that runs before, once, just before the
// client sends its first script call on the keys under prefix, alone or in
// a pipeline (as on a Cluster, where a delivery's enqueue goes in a
// pipeline with a read of the registry's version).
type beforeEnqueue struct {
	prefix string
	before func()
	done   atomic.Bool
}

func (h *beforeEnqueue) fire(cmds ...redis.Cmder) {
	for _, c := range cmds {
		if keys, _, ok := scriptCallOf(c); ok && len(keys) > 0 && keys[0] == h.prefix && h.done.CompareAndSwap(false, true) {
			h.before()
		}
	}
}

func (h *beforeEnqueue) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *beforeEnqueue) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.fire(cmd)
		return next(ctx, cmd)
	}
}

func (h *beforeEnqueue) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.fire(cmds...)
		return next(ctx, cmds)
	}
}
