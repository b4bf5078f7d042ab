package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// gateHook holds the first MaxInflightBatches enqueue scripts a client
// sends until released, counts the enqueue scripts, and fails them while
// fail is set.
type gateHook struct {
	held    chan struct{} // receives once per script held
	release chan struct{}
	seen    atomic.Int64
	scripts atomic.Int64
	fail    atomic.Bool
}

func newGateHook() *gateHook {
	return &gateHook{held: make(chan struct{}, broker.MaxInflightBatches), release: make(chan struct{})}
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "evalsha" && name != "eval" {
			return next(ctx, cmd)
		}
		h.scripts.Add(1)
		if h.seen.Add(1) <= broker.MaxInflightBatches {
			h.held <- struct{}{}
			<-h.release
		}
		if h.fail.Load() {
			err := errors.New("injected failure")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// coalescingBroker returns a broker with queue "q" whose client holds its
// first enqueue scripts at the gate: as many deliveries as may be on their
// way at once are under way, held, when it returns, with the channel their
// errors come on.
func coalescingBroker(t *testing.T) (*broker.Broker, *gateHook, <-chan error) {
	t.Helper()
	rdb := newClient(t, testutil.RealRedis(t))
	b := newQueue(t, rdb, broker.Config{})
	// The registry and the producer number are read before the gate.
	deliver(t, b, "t", "warm", "up")
	h := newGateHook()
	rdb.AddHook(h)
	first := make(chan error, broker.MaxInflightBatches)
	for i := range broker.MaxInflightBatches {
		go func() { first <- b.DeliverBytes(context.Background(), "t", fmt.Sprintf("lead%d", i), []byte("first")) }()
		<-h.held
	}
	return b, h, first
}

// waitWaiting waits until n callers wait for the next batch.
func waitWaiting(t *testing.T, b *broker.Broker, n int) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() bool { return broker.WaitingDeliveries(b) == n }, "%d deliveries waiting", n)
}

// Deliveries that arrive while a batch is on its way go together in the
// next: 20 callers, held behind a first delivery, cost one script call.
func TestCoalescedDeliveries(t *testing.T) {
	t.Parallel()
	b, h, first := coalescingBroker(t)
	const callers = 20
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			errs <- b.DeliverBytes(t.Context(), "t", fmt.Sprintf("f%d", i%5), []byte(fmt.Sprint(i)))
		}()
	}
	waitWaiting(t, b, callers)
	close(h.release)
	for range broker.MaxInflightBatches {
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := h.scripts.Load(); n != broker.MaxInflightBatches+1 {
		t.Errorf("%d enqueue scripts for %d + %d concurrent deliveries, want %d",
			n, broker.MaxInflightBatches, callers, broker.MaxInflightBatches+1)
	}
	want := int64(1 + broker.MaxInflightBatches + callers) // warm-up, held, waiting
	wantStats(t, b, "q", broker.QueueStats{Ready: want, Facets: int64(1 + broker.MaxInflightBatches + 5), Routed: true})
	testutil.RequireQueueInvariants(t, b.Client(), b.Namespace(), "q")
	if got := len(drain(t, b, "q")); int64(got) != want {
		t.Fatalf("drained %d, want %d", got, want)
	}
}

// A bad delivery fails alone, at once; a caller whose context ends while it
// waits gets the context's error and its message is not queued; a batch
// that Redis fails fails every caller in it.
func TestCoalescedFailures(t *testing.T) {
	t.Parallel()
	b, h, first := coalescingBroker(t)
	if err := b.DeliverBytes(t.Context(), "", "f", []byte("x")); !errors.Is(err, broker.ErrInvalidTopic) {
		t.Fatalf("bad delivery while a batch is on its way: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	canceled := make(chan error, 1)
	go func() { canceled <- b.DeliverBytes(ctx, "t", "gone", []byte("never")) }()
	const callers = 5
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			errs <- b.DeliverBytes(t.Context(), "t", "f", []byte(fmt.Sprint(i)))
		}()
	}
	waitWaiting(t, b, callers+1)
	cancel()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
	waitWaiting(t, b, callers) // it left the wait
	h.fail.Store(true)
	close(h.release)
	for range broker.MaxInflightBatches {
		if err := <-first; err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("a held delivery: %v, want the injected failure", err)
		}
	}
	for range callers {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("a caller of the failed batch got %v", err)
		}
	}
	h.fail.Store(false)
	// Only the warm-up message is queued: the canceled one never went.
	wantStats(t, b, "q", broker.QueueStats{Ready: 1, Facets: 1, Routed: true})
	deliver(t, b, "t", "f", "after")
	wantStats(t, b, "q", broker.QueueStats{Ready: 2, Facets: 2, Routed: true})
}

// Many goroutines delivering at once: every message queued exactly once,
// in order per goroutine, on both backends.
func TestCoalescedUnderLoad(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		const goroutines, each = 20, 50
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					if err := b.DeliverBytes(t.Context(), "t", fmt.Sprintf("g%d", g), []byte(fmt.Sprint(i))); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		pulled := drain(t, b, "q")
		if len(pulled) != goroutines*each {
			t.Fatalf("pulled %d, want %d", len(pulled), goroutines*each)
		}
		inOrder(t, pulled)
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}
