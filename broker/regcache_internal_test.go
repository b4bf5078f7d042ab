package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// barrierKeys records the keys of the barrier scripts a client runs (see
// durability.go): the partitions whose masters a replica wait waits on.
type barrierKeys struct {
	mu   sync.Mutex
	keys []string
}

func (h *barrierKeys) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *barrierKeys) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.record(cmd)
		return next(ctx, cmd)
	}
}

func (h *barrierKeys) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.record(cmd)
		}
		return next(ctx, cmds)
	}
}

func (h *barrierKeys) record(cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 4 || !strings.EqualFold(fmt.Sprint(args[0]), "eval") || args[1] != scriptBarrier {
		return
	}
	h.mu.Lock()
	h.keys = append(h.keys, fmt.Sprint(args[3]))
	h.mu.Unlock()
}

// TestReplicaWaitOnPartitionsWritten changes a queue's partition count
// between a delivery's write and its replica wait: the wait must be on the
// partition written, not on the one a routing made after the change
// gives. The standalone server has no replica, so the wait fails with
// ErrNotReplicated after it has sent its barrier.
func TestReplicaWaitOnPartitionsWritten(t *testing.T) {
	ctx := t.Context()
	rdb := testutil.RealRedis(t)
	hook := &barrierKeys{}
	rdb.AddHook(hook)
	b, err := New(rdb, Config{Namespace: testutil.Namespace(t), ReplicaAcks: 1, ReplicaAckTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(ctx, "q", "^t$", WithPartitions(3)); err != nil {
		t.Fatal(err)
	}
	var written []string
	send := b.coalesce.send
	b.coalesce.send = func(ctx context.Context, ps []prepared) (sendResult, error) {
		res, err := send(ctx, ps)
		if err == nil {
			written = slices.Concat(res.written...)
			// Another process changes the count before the wait.
			err = b.SetPartitions(ctx, "q", 2)
		}
		return res, err
	}
	err = b.DeliverBytes(ctx, "t", "f", []byte("x"))
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("deliver: %v, want ErrNotReplicated (no replicas)", err)
	}
	if len(written) != 1 || !strings.Contains(written[0], "~1.") {
		t.Fatalf("written %q, want one partition of generation 1", written)
	}
	want := b.keys.queueKey(written[0], "barrier")
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if !slices.Equal(hook.keys, []string{want}) {
		t.Errorf("the replica wait ran its barrier on %q, want %q (the partition written)", hook.keys, want)
	}
}

// TestRouteSharedLockOnly holds the registry cache's shared lock while
// deliveries to a partitioned queue, of a topic routed before, run: they
// complete, so routing them takes no exclusive lock of the cache.
func TestRouteSharedLockOnly(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b, err := New(rdb, Config{Namespace: testutil.Namespace(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.RegisterQueue(ctx, "q", "^t$", WithPartitions(3)); err != nil {
			t.Fatal(err)
		}
		if err := b.DeliverBytes(ctx, "t", "warm", []byte("x")); err != nil {
			t.Fatal(err)
		}
		b.reg.mu.RLock()
		done := make(chan error, 1)
		go func() {
			for i := range 20 {
				if err := b.DeliverBytes(ctx, "t", fmt.Sprint("f", i), []byte("x")); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			b.reg.mu.RUnlock()
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			b.reg.mu.RUnlock()
			t.Fatalf("a delivery of a routed topic waited for the registry cache's exclusive lock (then: %v)", <-done)
		}
	})
}

// TestRegistryReloadsUnderDeliveries delivers from several goroutines to a
// partitioned queue while others reload the registry and change the
// partition count: every delivery lands (run it with -race).
func TestRegistryReloadsUnderDeliveries(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b, err := New(rdb, Config{Namespace: testutil.Namespace(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.RegisterQueue(ctx, "q", "^t$", WithPartitions(3)); err != nil {
			t.Fatal(err)
		}
		const producers, each = 4, 50
		stop := make(chan struct{})
		var churn sync.WaitGroup
		churn.Add(2)
		go func() { // reloads
			defer churn.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b.reg.invalidate()
				if _, err := b.Partitions(ctx, "q"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() { // changes of count
			defer churn.Done()
			for k := 2; ; k = 5 - k {
				select {
				case <-stop:
					return
				default:
				}
				if err := b.SetPartitions(ctx, "q", k); err != nil && !errors.Is(err, ErrConflict) {
					t.Error(err)
					return
				}
			}
		}()
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for i := range each {
					if err := b.DeliverBytes(ctx, "t", fmt.Sprint("f", p, "-", i%7), []byte("x")); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		churn.Wait()
		s, err := b.Stats(ctx, "q")
		if err != nil {
			t.Fatal(err)
		}
		if s.Ready != producers*each {
			t.Errorf("%d ready, want %d", s.Ready, producers*each)
		}
	})
}
