package broker

import (
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// One enqueue call that both takes and refuses messages (two producers'
// deliveries joined by the coalescer), its reply lost and the call sent
// again: the second run answers what the first did, from its replay
// marker, and queues nothing twice.
func TestPartlyRefusedCallReplayed(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealRedis(t)
	ctx := t.Context()
	paths, err := fs.Glob(ScriptFS, "scripts/gen/*.lua")
	if err != nil || len(paths) == 0 {
		t.Fatalf("scripts: %v, %v", paths, err)
	}
	for _, path := range paths { // so that the lost reply is an EVALSHA's
		body, _ := fs.ReadFile(ScriptFS, path)
		if err := rdb.ScriptLoad(ctx, string(body)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	p := testutil.StartProxyT(t, rdb.Options().Addr)
	p.SetMatch(testutil.MatchCommands("EVALSHA"))
	via := redis.NewClient(&redis.Options{Addr: p.Addr(), ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = via.Close() })
	b, err := New(via, Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(ctx, "q", "."); err != nil {
		t.Fatal(err)
	}
	if err := b.SetBacklogLimit(ctx, "q", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverBytes(ctx, "t", "acme", []byte("first")); err != nil {
		t.Fatal(err)
	}
	var ps []prepared
	for _, f := range []string{"acme", "beta", "gamma"} { // three callers
		one, err := b.prepare(ctx, []Delivery{{Topic: "t", Facet: f, Body: []byte(f)}})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, one...)
	}
	p.DropNext(1)
	res, err := b.sendPrepared(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Dropped(); got != 1 {
		t.Fatalf("the proxy lost %d replies, want 1", got)
	}
	if len(res.refused[0]) != 1 || res.refused[0][0].Facet != "acme" || len(res.refused[1])+len(res.refused[2]) != 0 {
		t.Fatalf("refused %+v; want acme's only", res.refused)
	}
	if !slices.Equal(res.reached[1], []string{"q"}) || len(res.reached[0]) != 0 {
		t.Fatalf("reached %v", res.reached)
	}
	st, err := b.Stats(ctx, "q")
	if err != nil || st.Ready != 3 {
		t.Fatalf("Stats = %+v, %v; want 3 ready (first, beta, gamma), none twice", st, err)
	}
	testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
}
