package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// slotErrorHook records any error of a cluster client that mixes slots.
type slotErrorHook struct {
	mu  sync.Mutex
	bad []string
}

func (h *slotErrorHook) check(cmds ...redis.Cmder) {
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			for _, s := range []string{"CROSSSLOT", "non local key", "same slot"} {
				if strings.Contains(err.Error(), s) {
					h.mu.Lock()
					h.bad = append(h.bad, fmt.Sprintf("%v: %v", c.Args(), err))
					h.mu.Unlock()
				}
			}
		}
	}
}

func (h *slotErrorHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *slotErrorHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(cmd)
		return err
	}
}

func (h *slotErrorHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(cmds...)
		return err
	}
}

// A worker on a Redis Cluster handles every message of queues spread over
// all masters exactly once, fairly, and leaves every queue consistent.
func TestClusterWorker(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealCluster(t)
	hook := &slotErrorHook{}
	rdb.AddHook(hook)
	rdb.OnNewNode(func(c *redis.Client) { c.AddHook(hook) })
	spreadWorker(t, rdb, testutil.QueuesOnEveryMaster(t))
	hook.mu.Lock()
	defer hook.mu.Unlock()
	for _, s := range hook.bad {
		t.Errorf("slot error on the cluster: %s", s)
	}
}

// spreadWorker checks that a worker on rdb handles every message of queue
// "q" and of qs exactly once, fairly, and leaves every queue consistent.
func spreadWorker(t *testing.T, rdb redis.UniversalClient, qs []string) {
	t.Helper()
	b := newBroker(t, rdb, broker.Config{}) // registers "q" too
	ctx := t.Context()
	for _, q := range qs {
		if err := b.RegisterQueue(ctx, q, "."); err != nil {
			t.Fatal(err)
		}
	}
	all := append([]string{"q"}, qs...)

	var mu sync.Mutex
	seen := make(map[string]int) // "queue/body" -> times handled
	var order []string           // facets of queue "q", in handling order
	handler := func(_ context.Context, m *broker.Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen[m.Queue+"/"+string(m.Body)]++
		if m.Queue == "q" {
			order = append(order, m.Facet)
		}
		return nil
	}
	deliverN(t, b, "big", 100)
	for _, f := range []string{"s1", "s2", "s3"} {
		deliverN(t, b, f, 2)
	}
	queues := make(map[string]int)
	for _, q := range all {
		queues[q] = 1
	}
	w := worker.New(b, quick(worker.Config{Concurrency: 4, Queues: queues}))
	for _, q := range all {
		w.HandleFunc(q, handler)
	}
	startWorker(t, w, b)
	// Deliveries while the worker waits: its watch on each queue's wake
	// channel hears them whichever node publishes.
	testutil.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 106*len(all)
	}, "the first batch handled")
	for _, f := range []string{"late1", "late2"} {
		deliverN(t, b, f, 10)
	}
	want := 126 * len(all)
	testutil.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == want
	}, "every message handled")
	for _, q := range all {
		testutil.Eventually(t, 5*time.Second, func() bool {
			s, err := b.Stats(ctx, q)
			return err == nil && s == broker.QueueStats{Routed: true}
		}, "queue %s drained", q)
	}

	mu.Lock()
	defer mu.Unlock()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
	// Fairness on the cluster as on one server: the small facets are not
	// stuck behind the 100 messages of "big".
	last := 0
	for i, f := range order[:106] {
		if strings.HasPrefix(f, "s") {
			last = i
		}
	}
	if last > 20 {
		t.Errorf("last small-facet message of q at position %d of %v", last, order[:30])
	}
	for _, q := range all {
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), q)
	}
}
