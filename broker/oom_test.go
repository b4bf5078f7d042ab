package broker_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// startFullRedis starts a redis-server limited to 20 MiB under noeviction
// and returns a client on it.
func startFullRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := testutil.StartServerT(t, "--maxmemory", "20mb", "--maxmemory-policy", "noeviction")
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// fillQueue delivers 4 KiB messages to queue "q" of b until Redis refuses
// one for memory, and returns how many it holds. The refusal must wrap
// broker.ErrRedisFull.
func fillQueue(t *testing.T, b *broker.Broker) int {
	t.Helper()
	body := []byte(strings.Repeat("x", 4096))
	n := 0
	for i := 0; ; i++ {
		ds := make([]broker.Delivery, 50)
		for j := range ds {
			ds[j] = broker.Delivery{Topic: "t", Facet: "f" + strconv.Itoa(j%7), Body: body}
		}
		err := b.DeliverBatch(t.Context(), ds)
		if err != nil {
			if !errors.Is(err, broker.ErrRedisFull) {
				t.Fatalf("DeliverBatch at the limit: %v, want ErrRedisFull", err)
			}
			break
		}
		n += len(ds)
		if i > 2000 {
			t.Fatal("Redis never filled up")
		}
	}
	// A refused batch may have queued some of its parts: fill the rest one
	// by one.
	for range 1000 {
		err := b.DeliverBytes(t.Context(), "t", "f", body)
		if err == nil {
			n++
			continue
		}
		if !errors.Is(err, broker.ErrRedisFull) || !strings.Contains(err.Error(), "OOM") {
			t.Fatalf("DeliverBytes at the limit: %v, want ErrRedisFull wrapping the OOM reply", err)
		}
		return n
	}
	t.Fatal("Redis went on taking messages after it refused a batch")
	return n
}

// holdOverLimit lowers maxmemory 1 MiB below what Redis uses now. Filled to
// the limit, Redis hovers at it: the query buffer of a refused delivery
// alone can make the difference, and once freed a small read or write slips
// under. Below the limit by a margin, every call that follows meets a full
// Redis.
func holdOverLimit(t *testing.T, rdb *redis.Client) {
	t.Helper()
	info, err := rdb.Info(t.Context(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var used int64
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			used, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if used < 2<<20 {
		t.Fatalf("used_memory %d from INFO memory", used)
	}
	if err := rdb.ConfigSet(t.Context(), "maxmemory", strconv.FormatInt(used-1<<20, 10)).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestFullRedisFreesMemory: at maxmemory under noeviction, deliveries are
// refused with ErrRedisFull, while a broker started at the limit loads its
// registry and every operation that frees memory (or keeps a lease) works.
func TestFullRedisFreesMemory(t *testing.T) {
	t.Parallel()
	rdb := startFullRedis(t)
	ns := testutil.Namespace(t)
	b := newQueue(t, rdb, broker.Config{Namespace: ns})
	queued := fillQueue(t, b)
	t.Logf("queued %d messages before Redis filled up", queued)
	holdOverLimit(t, rdb)
	if err := b.DeliverBytes(t.Context(), "t", "f", []byte("x")); !errors.Is(err, broker.ErrRedisFull) {
		t.Fatalf("DeliverBytes over the limit: %v, want ErrRedisFull", err)
	}

	// A broker started at the limit: its first call loads the registry.
	fresh := newBroker(t, rdb, broker.Config{Namespace: ns})
	ctx := t.Context()
	ops := []struct {
		name string
		run  func(m *broker.Message) error
	}{
		{"extend", func(m *broker.Message) error { return fresh.Extend(ctx, m, time.Minute) }},
		{"ack", func(m *broker.Message) error { return fresh.Ack(ctx, m) }},
		{"release", func(m *broker.Message) error { return fresh.Release(ctx, m) }},
		{"nack", func(m *broker.Message) error { return fresh.Nack(ctx, m, 0) }},
		{"nack later", func(m *broker.Message) error { return fresh.Nack(ctx, m, time.Hour) }},
		{"kill", func(m *broker.Message) error { return fresh.Kill(ctx, m, "at the limit") }},
	}
	for _, op := range ops {
		m, err := fresh.Pull(ctx, "q")
		if err != nil || m == nil {
			t.Fatalf("Pull at the limit before %s: %v, %v", op.name, m, err)
		}
		if err := op.run(m); err != nil {
			t.Fatalf("%s at the limit: %v", op.name, err)
		}
	}
	ms, err := fresh.PullN(ctx, "q", 10)
	if err != nil || len(ms) != 10 {
		t.Fatalf("PullN at the limit: %d messages, %v", len(ms), err)
	}
	for _, m := range ms {
		if err := fresh.Kill(ctx, m, "at the limit"); err != nil {
			t.Fatalf("Kill at the limit: %v", err)
		}
	}
	if n, err := fresh.PurgeDead(ctx, "q", ms[0].ID); err != nil || n != 1 {
		t.Fatalf("PurgeDead at the limit = %d, %v; want 1", n, err)
	}
	if n, err := fresh.PurgeAllDead(ctx, "q"); err != nil || n != 10 {
		t.Fatalf("PurgeAllDead at the limit = %d, %v; want 10", n, err)
	}
	// The checker reads in MULTI/EXEC, which Redis refuses at the limit.
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.RequireQueueInvariants(t, rdb, ns, "q")
}
