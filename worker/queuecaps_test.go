package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// gauge counts handlers running at once and keeps the most seen.
type gauge struct {
	now, most atomic.Int64
}

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// Config.QueueConcurrency caps the handlers of one queue in this process,
// measured from the handlers themselves, while the other queue gets the
// rest of the pool; and a queue at its cap is pulled again as soon as one
// of its handlers finishes, without waiting for a delivery or a poll (the
// poll interval here is a minute).
func TestQueueConcurrency(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(t), Logger: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		for q, pattern := range map[string]string{"slow": "^slow$", "fast": "^fast$"} {
			if err := b.RegisterQueue(ctx, q, pattern); err != nil {
				t.Fatal(err)
			}
		}
		const each = 30
		var slow, fast gauge
		var wg sync.WaitGroup
		wg.Add(2 * each)
		w := worker.New(b, quick(worker.Config{
			Concurrency:      6,
			QueueConcurrency: map[string]int{"slow": 2},
			PollInterval:     time.Minute,
		}))
		w.HandleFunc("slow", func(context.Context, *broker.Message) error {
			slow.enter()
			defer slow.leave()
			time.Sleep(10 * time.Millisecond)
			wg.Done()
			return nil
		})
		w.HandleFunc("fast", func(context.Context, *broker.Message) error {
			fast.enter()
			defer fast.leave()
			time.Sleep(10 * time.Millisecond)
			wg.Done()
			return nil
		})
		var ds []broker.Delivery
		for i := range each {
			ds = append(ds, broker.Delivery{Topic: "slow", Facet: "f" + string(rune('a'+i%5)), Body: []byte("s")},
				broker.Delivery{Topic: "fast", Facet: "f", Body: []byte("f")})
		}
		if err := b.DeliverBatch(ctx, ds); err != nil {
			t.Fatal(err)
		}
		startWorker(t, w, b)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("handled %d slow and %d fast at most at once, but not all %d messages in 30s", slow.most.Load(), fast.most.Load(), 2*each)
		}
		if got := slow.most.Load(); got != 2 {
			t.Errorf("at most %d handlers of the capped queue ran at once, want its cap, 2", got)
		}
		if got := fast.most.Load(); got < 3 {
			t.Errorf("at most %d handlers of the other queue ran at once, want the pool's rest (4)", got)
		}
	})
}

// A bad QueueConcurrency is refused by Start, and nothing runs.
func TestQueueConcurrencyRefused(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb, broker.Config{})
	for name, tc := range map[string]struct {
		cfg  worker.Config
		want string
	}{
		"zero cap":        {worker.Config{QueueConcurrency: map[string]int{"q": 0}}, `cap 0 of "q" is below 1`},
		"bad queue name":  {worker.Config{QueueConcurrency: map[string]int{"a b": 1}}, "QueueConcurrency"},
		"unhandled queue": {worker.Config{QueueConcurrency: map[string]int{"other": 1}}, `names "other", which has no handler`},
		"unserved queue": {worker.Config{Queues: map[string]int{"q": 1}, QueueConcurrency: map[string]int{"q2": 1}},
			`names "q2", which Config.Queues leaves out`},
	} {
		w := worker.New(b, quick(tc.cfg))
		w.HandleFunc("q", nop)
		w.HandleFunc("q2", nop)
		err := w.Start(context.Background())
		if err == nil {
			_ = w.Stop(context.Background())
			t.Errorf("%s: Start succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Start = %v, want it to say %q", name, err, tc.want)
		}
		if strings.Contains(tc.want, "handler") && !errors.Is(err, worker.ErrInvalidRegistration) {
			t.Errorf("%s: %v does not wrap ErrInvalidRegistration", name, err)
		}
	}
}
