package broker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// waitTimeout bounds every wait on a condition.
const waitTimeout = 5 * time.Second

// newBroker returns a broker on rdb under a namespace unique to t.
func newBroker(t *testing.T, rdb redis.UniversalClient, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.Namespace == "" {
		cfg.Namespace = testutil.Namespace(t)
	}
	b, err := broker.New(rdb, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// newQueue returns a broker with queue "q" registered for every topic.
func newQueue(t *testing.T, rdb redis.UniversalClient, cfg broker.Config) *broker.Broker {
	t.Helper()
	b := newBroker(t, rdb, cfg)
	register(t, b, "q", ".")
	return b
}

func register(t *testing.T, b *broker.Broker, queue, pattern string) {
	t.Helper()
	if err := b.RegisterQueue(t.Context(), queue, pattern); err != nil {
		t.Fatalf("RegisterQueue(%q, %q): %v", queue, pattern, err)
	}
}

func deliver(t *testing.T, b *broker.Broker, topic, facet, body string, opts ...broker.DeliverOption) {
	t.Helper()
	if err := b.DeliverBytes(t.Context(), topic, facet, []byte(body), opts...); err != nil {
		t.Fatalf("DeliverBytes(%q, %q, %q): %v", topic, facet, body, err)
	}
}

// pull pulls one message and fails t if there is none.
func pull(t *testing.T, b *broker.Broker, queue string) *broker.Message {
	t.Helper()
	m, err := b.Pull(t.Context(), queue)
	if err != nil {
		t.Fatalf("Pull(%q): %v", queue, err)
	}
	if m == nil {
		t.Fatalf("Pull(%q) = nil, want a message", queue)
	}
	return m
}

// pullNone fails t unless queue has nothing ready.
func pullNone(t *testing.T, b *broker.Broker, queue string) {
	t.Helper()
	m, err := b.Pull(t.Context(), queue)
	if err != nil || m != nil {
		t.Fatalf("Pull(%q) = %v, %v; want nil, nil", queue, m, err)
	}
}

// eventuallyPull pulls until a message comes, and returns it.
func eventuallyPull(t *testing.T, b *broker.Broker, queue string) *broker.Message {
	t.Helper()
	var m *broker.Message
	testutil.Eventually(t, waitTimeout, func() bool {
		var err error
		m, err = b.Pull(t.Context(), queue)
		if err != nil {
			t.Fatalf("Pull(%q): %v", queue, err)
		}
		return m != nil
	}, "a message to pull from %q", queue)
	return m
}

func ack(t *testing.T, b *broker.Broker, m *broker.Message) {
	t.Helper()
	if err := b.Ack(t.Context(), m); err != nil {
		t.Fatalf("Ack(%v): %v", m, err)
	}
}

// drain pulls and acks until queue is empty and returns what it pulled, as
// "facet:body" strings.
func drain(t *testing.T, b *broker.Broker, queue string) []string {
	t.Helper()
	var out []string
	for range 10000 {
		m, err := b.Pull(t.Context(), queue)
		if err != nil {
			t.Fatalf("Pull(%q): %v", queue, err)
		}
		if m == nil {
			return out
		}
		out = append(out, m.Facet+":"+string(m.Body))
		ack(t, b, m)
	}
	t.Fatalf("drain(%q): queue never emptied", queue)
	return nil
}

// facets is the facet of each "facet:body" string of drain.
func facets(pulled []string) []string {
	out := make([]string, len(pulled))
	for i, p := range pulled {
		out[i], _, _ = strings.Cut(p, ":")
	}
	return out
}

func stats(t *testing.T, b *broker.Broker, queue string) broker.QueueStats {
	t.Helper()
	s, err := b.Stats(t.Context(), queue)
	if err != nil {
		t.Fatalf("Stats(%q): %v", queue, err)
	}
	return s
}

func wantStats(t *testing.T, b *broker.Broker, queue string, want broker.QueueStats) {
	t.Helper()
	if got := stats(t, b, queue); got != want {
		t.Fatalf("Stats(%q) = %+v, want %+v", queue, got, want)
	}
}

// keys lists the keys matching a glob, sorted.
func keys(t *testing.T, rdb redis.UniversalClient, glob string) []string {
	t.Helper()
	ks, err := rdb.Keys(context.Background(), glob).Result()
	if err != nil {
		t.Fatalf("KEYS %s: %v", glob, err)
	}
	slices.Sort(ks)
	return ks
}

// keysKept is keys without the replay markers of recent calls (replay.go),
// which a destroyed or dropped queue leaves to expire: each must expire
// within the default ReplayWindow.
func keysKept(t *testing.T, rdb redis.UniversalClient, glob string) []string {
	t.Helper()
	return slices.DeleteFunc(keys(t, rdb, glob), func(k string) bool {
		if !strings.Contains(k, "}:r:") {
			return false
		}
		ttl, err := rdb.PTTL(context.Background(), k).Result()
		if err != nil || ttl <= 0 || ttl > broker.ReplayWindowDefault {
			t.Errorf("replay marker %s expires in %v (%v), want within %v", k, ttl, err, broker.ReplayWindowDefault)
		}
		return true
	})
}

// snapshot renders every key of the broker's namespace with its type and
// content, to show that a call wrote nothing.
func snapshot(t *testing.T, b *broker.Broker) map[string]string {
	t.Helper()
	ctx, rdb := context.Background(), b.Client()
	out := make(map[string]string)
	for _, k := range keys(t, rdb, b.Namespace()+":*") {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		}
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		out[k] = fmt.Sprintf("%s %v", typ, v)
	}
	return out
}

// redisNow is the Redis server's clock.
func redisNow(t *testing.T, rdb redis.UniversalClient) time.Time {
	t.Helper()
	now, err := rdb.Time(context.Background()).Result()
	if err != nil {
		t.Fatalf("TIME: %v", err)
	}
	return now
}

// waitRedisPast waits until the Redis clock has passed tm.
func waitRedisPast(t *testing.T, rdb redis.UniversalClient, tm time.Time) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() bool { return redisNow(t, rdb).After(tm) },
		"the Redis clock to pass %v", tm)
}

// hlen is the length of a hash of queue, read with the raw client.
// hlen counts the fields of hash kind of queue. For msgs it counts the
// envelopes; "msgs@" counts the attempts fields of msgs ("@<ID>").
func hlen(t *testing.T, b *broker.Broker, queue, kind string) int64 {
	t.Helper()
	attempts := kind == "msgs@"
	if attempts || kind == "msgs" {
		kind = "msgs"
	}
	fields, err := b.Client().HKeys(context.Background(), b.Namespace()+":{"+queue+"}:"+kind).Result()
	if err != nil {
		t.Fatalf("HKEYS: %v", err)
	}
	n := int64(0)
	for _, f := range fields {
		if kind != "msgs" || strings.HasPrefix(f, "@") == attempts {
			n++
		}
	}
	return n
}

// newClient returns a new client to the server of rdb, closed when t ends.
func newClient(t *testing.T, rdb redis.UniversalClient) *redis.Client {
	t.Helper()
	c, ok := rdb.(*redis.Client)
	if !ok {
		t.Fatalf("backend client is a %T", rdb)
	}
	client := redis.NewClient(&redis.Options{Addr: c.Options().Addr})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// scriptCallOf splits a script call (EVALSHA or EVAL sha-or-body numkeys
// keys... args...) into its KEYS and ARGV; ok is false for other commands.
func scriptCallOf(cmd redis.Cmder) (keys, argv []any, ok bool) {
	args := cmd.Args()
	if name := cmd.Name(); name != "evalsha" && name != "eval" || len(args) < 3 {
		return nil, nil, false
	}
	n, isInt := args[2].(int)
	if !isInt || len(args) < 3+n {
		return nil, nil, false
	}
	return args[3 : 3+n], args[3+n:], true
}

// beforeScript is a go-redis hook that runs before, once, just before the
// client's first script call that match accepts (by its KEYS and ARGV), so
// that a test can make something happen between two steps of the broker.
type beforeScript struct {
	match  func(keys, argv []any) bool
	before func()
	done   atomic.Bool
}

func (h *beforeScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *beforeScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if keys, argv, ok := scriptCallOf(cmd); ok && h.match(keys, argv) && h.done.CompareAndSwap(false, true) {
			h.before()
		}
		return next(ctx, cmd)
	}
}

func (h *beforeScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// leaseN pulls up to n messages of queue leased for lease.
func leaseN(ctx context.Context, b *broker.Broker, queue string, n int, lease time.Duration) ([]*broker.Message, error) {
	r, err := b.PullWith(ctx, queue, broker.PullOptions{Count: n, Lease: lease})
	return r.Messages, err
}
