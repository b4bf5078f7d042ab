package broker_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// flushHook runs SCRIPT FLUSH on the server before every command or
// pipeline that holds an EVALSHA, as a restart or failover could, so that
// each one meets NOSCRIPT.
type flushHook struct {
	admin   redis.UniversalClient
	flushes *atomic.Int64
}

func (h flushHook) flush(ctx context.Context, cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if c.Name() == "evalsha" {
			h.flushes.Add(1)
			return h.admin.ScriptFlush(ctx).Err()
		}
	}
	return nil
}

func (h flushHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h flushHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.flush(ctx, cmd); err != nil {
			return err
		}
		return next(ctx, cmd)
	}
}

func (h flushHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.flush(ctx, cmds...); err != nil {
			return err
		}
		return next(ctx, cmds)
	}
}

// Every operation recovers from a script cache flushed just before it.
func TestNoScript(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		client := newClient(t, rdb)
		var flushes atomic.Int64
		client.AddHook(flushHook{admin: rdb, flushes: &flushes})
		b := newBroker(t, client, broker.Config{})
		register(t, b, "a", "^a")
		register(t, b, "b", "^b")
		register(t, b, "q", ".")
		step := func(name string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s after SCRIPT FLUSH: %v", name, err)
			}
		}

		step("DeliverBatch", b.DeliverBatch(ctx, []broker.Delivery{
			{Topic: "a.1", Facet: "f", Body: []byte("a1")},
			{Topic: "b.1", Facet: "f", Body: []byte("b1")},
			{Topic: "a.2", Facet: "g", Body: []byte("a2")},
			{Topic: "c.1", Facet: "f", Body: []byte("c1")},
		}))
		step("Deliver", b.Deliver(ctx, map[string]any{"topic": "b.2", "facet": "g"}))
		step("DeliverBytes", b.DeliverBytes(ctx, "a.3", "f", []byte("a3"), broker.WithIdempotencyKey("k", 0)))
		step("SetFacetPriority", b.SetFacetPriority(ctx, "q", "f", 2))
		step("SetInflightLimit", b.SetInflightLimit(ctx, "q", 10))
		wantStats(t, b, "a", broker.QueueStats{Ready: 3, Facets: 2, Routed: true})
		wantStats(t, b, "b", broker.QueueStats{Ready: 2, Facets: 2, Routed: true})
		wantStats(t, b, "q", broker.QueueStats{Ready: 6, Facets: 2, Routed: true, InflightLimit: 10})

		m, err := b.Pull(ctx, "a")
		step("Pull", err)
		step("Extend", b.Extend(ctx, m, time.Minute))
		step("Nack", b.Nack(ctx, m, 0))
		ms, err := b.PullN(ctx, "a", 3)
		step("PullN", err)
		if len(ms) != 3 {
			t.Fatalf("PullN gave %d messages, want 3", len(ms))
		}
		step("Release", b.Release(ctx, ms[2]))
		step("Ack", b.Ack(ctx, ms[0]))
		step("AckMany", b.AckMany(ctx, ms[1:2]))
		m, err = b.Pull(ctx, "a")
		step("Pull", err)
		step("Kill", b.Kill(ctx, m, "x"))
		_, err = b.RequeueAllDead(ctx, "a")
		step("RequeueAllDead", err)
		m, err = b.Pull(ctx, "a")
		step("Pull", err)
		step("Kill", b.Kill(ctx, m, "x"))
		_, err = b.PurgeAllDead(ctx, "a")
		step("PurgeAllDead", err)
		wantStats(t, b, "a", broker.QueueStats{Routed: true})
		step("UnregisterQueue", b.UnregisterQueue(ctx, "b"))
		step("DestroyQueue", b.DestroyQueue(ctx, "b"))

		var got []string
		for _, m := range pulled(t, b, 10) {
			_, body, _ := strings.Cut(m, ":")
			got = append(got, body)
		}
		slices.Sort(got)
		if want := []string{"a1", "a2", "a3", "b1", "c1", `{"facet":"g","topic":"b.2"}`}; !slices.Equal(got, want) {
			t.Fatalf("q holds %q, want %q", got, want)
		}
		if n := flushes.Load(); n < 20 {
			t.Fatalf("only %d script calls met a flushed cache", n)
		}
	})
}
