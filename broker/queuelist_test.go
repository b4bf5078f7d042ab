package broker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func listQueues(t *testing.T, b *broker.Broker) map[string]broker.QueueInfo {
	t.Helper()
	qs, err := b.ListQueues(t.Context())
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	out := make(map[string]broker.QueueInfo, len(qs))
	for i, q := range qs {
		if _, dup := out[q.Name]; dup {
			t.Errorf("ListQueues lists %q twice: %+v", q.Name, qs)
		}
		if i > 0 && qs[i-1].Name >= q.Name {
			t.Errorf("ListQueues is not sorted by name: %+v", qs)
		}
		out[q.Name] = q
	}
	return out
}

func wantListed(t *testing.T, got map[string]broker.QueueInfo, want ...broker.QueueInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("ListQueues = %+v, want %+v", got, want)
	}
	for _, w := range want {
		if got[w.Name] != w {
			t.Errorf("ListQueues lists %+v, want %+v", got[w.Name], w)
		}
	}
}

// ListQueues lists the routed queues and the unregistered ones that still
// exist, holding messages or not, each once; a destroyed queue is gone.
func TestListQueues(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		// The first call scans for older queues: the list is what the
		// registry keeps from here on.
		wantListed(t, listQueues(t, b))
		register(t, b, "live", "^a$")
		if err := b.RegisterQueue(ctx, "split", "^a$", broker.WithPartitions(3)); err != nil {
			t.Fatal(err)
		}
		register(t, b, "empty", "^a$")
		register(t, b, "gone", "^a$")
		for _, f := range []string{"f1", "f2", "f3", "f4"} {
			deliver(t, b, "a", f, "x")
		}
		for _, q := range []string{"split", "empty", "gone"} {
			if err := b.UnregisterQueue(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := b.PurgeAllDead(ctx, "empty"); err != nil || n != 0 {
			t.Fatal(n, err)
		}
		drain(t, b, "empty")
		if err := b.DestroyQueue(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		wantListed(t, listQueues(t, b),
			broker.QueueInfo{Name: "live", Pattern: "^a$", Routed: true, Partitions: 1, Messages: 4},
			broker.QueueInfo{Name: "split", Partitions: 3, Messages: 4},
			broker.QueueInfo{Name: "empty", Partitions: 1},
		)
		// A destroyed queue leaves nothing in the registry's list.
		if left, err := rdb.HExists(ctx, b.Namespace()+":{~registry}:known", "gone").Result(); err != nil || left {
			t.Errorf("the list of queues keeps a destroyed queue (%v, %v)", left, err)
		}
		if got, err := b.Queues(ctx); err != nil || len(got) != 1 || got["live"] != "^a$" {
			t.Errorf("Queues() = %v, %v; want only live", got, err)
		}
		if _, err := b.ListQueues(nil); !errors.Is(err, broker.ErrInvalidArgument) { //nolint:staticcheck // a nil context is the bad input tested
			t.Errorf("ListQueues(nil) = %v, want ErrInvalidArgument", err)
		}
	})
}

// scanCounter counts the SCAN commands a client sends.
type scanCounter struct{ n atomic.Int64 }

func (h *scanCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *scanCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.EqualFold(cmd.Name(), "scan") {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *scanCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A namespace whose queues were made before the registry listed them (its
// list deleted here) has them found by the first ListQueues, which scans
// the keyspace once; the next ones do not scan. A facet key whose name ends
// like a cfg key is not taken for a queue.
func TestListQueuesFindsOlderQueues(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		client := newClient(t, rdb)
		scans := &scanCounter{}
		client.AddHook(scans)
		b := newBroker(t, client, broker.Config{})
		register(t, b, "old", ".")
		register(t, b, "routed", ".")
		deliver(t, b, "t", "x}:cfg", "body")
		if err := b.UnregisterQueue(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Del(ctx, b.Namespace()+":{~registry}:known").Err(); err != nil {
			t.Fatal(err)
		}
		want := []broker.QueueInfo{
			{Name: "old", Partitions: 1, Messages: 1},
			{Name: "routed", Pattern: ".", Routed: true, Partitions: 1, Messages: 1},
		}
		wantListed(t, listQueues(t, b), want...)
		if scans.n.Load() == 0 {
			t.Fatal("the first ListQueues sent no SCAN")
		}
		scans.n.Store(0)
		wantListed(t, listQueues(t, b), want...)
		if n := scans.n.Load(); n != 0 {
			t.Errorf("the second ListQueues sent %d SCAN(s), want none", n)
		}
	})
}

// On a Cluster, ListQueues lists queues on every master, a partitioned one
// once under its name, routed or not, and finds older ones by scanning
// every master.
func TestClusterListQueues(t *testing.T) {
	t.Parallel()
	rdb, _ := clusterClient(t)
	ctx := t.Context()
	qs := testutil.QueuesOnEveryMaster(t)
	b := newBroker(t, rdb, broker.Config{})
	wantListed(t, listQueues(t, b))
	var want []broker.QueueInfo
	for i, q := range qs {
		register(t, b, q, ".")
		info := broker.QueueInfo{Name: q, Pattern: ".", Routed: true, Partitions: 1, Messages: 1}
		if i == 0 {
			if err := b.UnregisterQueue(ctx, q); err != nil {
				t.Fatal(err)
			}
			info.Pattern, info.Routed, info.Messages = "", false, 0
		}
		want = append(want, info)
	}
	if err := b.RegisterQueue(ctx, "split", ".", broker.WithPartitions(3)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "b", "c", "d", "e", "f"} {
		deliver(t, b, "t", f, "x")
	}
	if err := b.UnregisterQueue(ctx, "split"); err != nil {
		t.Fatal(err)
	}
	for i := range want[1:] {
		want[i+1].Messages = 6
	}
	want = append(want, broker.QueueInfo{Name: "split", Partitions: 3, Messages: 6})
	wantListed(t, listQueues(t, b), want...)
	if err := rdb.Del(ctx, b.Namespace()+":{~registry}:known").Err(); err != nil {
		t.Fatal(err)
	}
	wantListed(t, listQueues(t, b), want...)
}
