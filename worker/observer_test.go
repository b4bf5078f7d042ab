package worker_test

import (
	"context"
	"errors"
	"fmt"
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

// recorder is an Observer that keeps every report.
type recorder struct {
	mu      sync.Mutex
	started int
	reports []worker.Report
	badCtx  int // Finish calls without the context Start returned
}

type startedKey struct{}

func (r *recorder) Start(ctx context.Context, m *broker.Message) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started++
	return context.WithValue(ctx, startedKey{}, m.ID)
}

func (r *recorder) Finish(ctx context.Context, m *broker.Message, rep worker.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Value(startedKey{}) != m.ID {
		r.badCtx++
	}
	r.reports = append(r.reports, rep)
}

func (r *recorder) got() (started, bad int, reports []worker.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started, r.badCtx, append([]worker.Report(nil), r.reports...)
}

// once returns a handler that runs first on its first call and then on
// every later call.
func once(first, then worker.HandlerFunc) worker.HandlerFunc {
	var calls atomic.Int32
	return func(ctx context.Context, m *broker.Message) error {
		if calls.Add(1) == 1 {
			return first(ctx, m)
		}
		return then(ctx, m)
	}
}

func succeed(context.Context, *broker.Message) error { return nil }

// The report an observer gets is what the worker did with the message,
// after doing it, for each outcome: an ack or a nack that Redis refuses
// because the lease is gone is reported lost, not as the ack or retry the
// handler's result asked for.
func TestObserverReportIsWhatTheWorkerDid(t *testing.T) {
	t.Parallel()
	// steal takes the lease and keeps it, so that no later run can settle
	// the message (and be reported) before the first run's ack or nack.
	steal := func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
		if err := b.Release(ctx, m); err != nil {
			return err
		}
		got, err := b.PullWith(ctx, m.Queue, broker.PullOptions{Lease: time.Minute})
		if err == nil && (len(got.Messages) != 1 || got.Messages[0].ID != m.ID) {
			err = fmt.Errorf("the thief pulled %d messages, not %s", len(got.Messages), m.ID)
		}
		return err
	}
	fail := func(err error) worker.HandlerFunc {
		return func(context.Context, *broker.Message) error { return err }
	}
	tests := []struct {
		name      string
		handler   func(b *broker.Broker) worker.HandlerFunc // made for each run
		stop      bool                                      // stop the worker at once, while the handler runs
		want      worker.Outcome
		wantDelay time.Duration
		settleErr error
	}{
		{name: "ack", handler: func(*broker.Broker) worker.HandlerFunc { return succeed }, want: worker.OutcomeAck},
		{name: "retry", handler: func(*broker.Broker) worker.HandlerFunc {
			return once(fail(worker.RetryAfter(errors.New("busy"), 30*time.Millisecond)), succeed)
		}, want: worker.OutcomeRetry, wantDelay: 30 * time.Millisecond},
		{name: "dead", handler: func(*broker.Broker) worker.HandlerFunc {
			return fail(worker.SkipRetry(errors.New("bad")))
		}, want: worker.OutcomeDead},
		{name: "release", handler: func(*broker.Broker) worker.HandlerFunc {
			return func(ctx context.Context, _ *broker.Message) error {
				<-ctx.Done()
				return ctx.Err()
			}
		}, stop: true, want: worker.OutcomeRelease},
		{name: "ack refused: lease lost", handler: func(b *broker.Broker) worker.HandlerFunc {
			return once(func(ctx context.Context, m *broker.Message) error { return steal(ctx, b, m) }, succeed)
		}, want: worker.OutcomeLost, settleErr: broker.ErrLeaseLost},
		{name: "nack refused: lease lost", handler: func(b *broker.Broker) worker.HandlerFunc {
			return once(func(ctx context.Context, m *broker.Message) error {
				return errors.Join(errors.New("failed"), steal(ctx, b, m))
			}, succeed)
		}, want: worker.OutcomeLost, settleErr: broker.ErrLeaseLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
				b := newBroker(t, rdb, broker.Config{})
				h := tt.handler(b)
				rec := &recorder{}
				// One handler at a time: no second pull while the first
				// run holds the slot.
				w := worker.New(b, quick(worker.Config{Concurrency: 1}))
				w.Observe(rec)
				var ran atomic.Bool
				w.HandleFunc("q", func(ctx context.Context, m *broker.Message) error {
					ran.Store(true)
					return h(ctx, m)
				})
				deliverN(t, b, "f", 1)
				startWorker(t, w, b)
				if tt.stop {
					testutil.Eventually(t, 5*time.Second, ran.Load, "handler running")
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
					_ = w.Stop(ctx)
					cancel()
				}
				testutil.Eventually(t, 10*time.Second, func() bool {
					_, _, reps := rec.got()
					return len(reps) > 0
				}, "a report")
				started, bad, reps := rec.got()
				rep := reps[0]
				if rep.Outcome != tt.want || rep.RetryDelay != tt.wantDelay || rep.Attempt != 1 || rep.Duration <= 0 {
					t.Errorf("report = %+v; want outcome %v, retry delay %v, attempt 1, a duration", rep, tt.want, tt.wantDelay)
				}
				if !errors.Is(rep.SettleErr, tt.settleErr) || (tt.settleErr == nil) != (rep.SettleErr == nil) {
					t.Errorf("report's SettleErr = %v; want %v", rep.SettleErr, tt.settleErr)
				}
				if started < len(reps) || bad != 0 {
					t.Errorf("%d starts for %d reports, %d without Start's context", started, len(reps), bad)
				}
			})
		})
	}
}

// A panic is recovered once, by the worker: the observers get one report
// of it, with the *PanicError and the stack of the panicking handler, and
// the message is retried.
func TestObserverSeesPanicOnce(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		rec := &recorder{}
		w := worker.New(b, quick(worker.Config{}))
		w.Observe(rec)
		var calls atomic.Int32
		w.Use(func(next worker.Handler) worker.Handler { return next }) // middleware sees it pass
		w.HandleFunc("q", func(ctx context.Context, _ *broker.Message) error {
			if calls.Add(1) == 1 {
				_ = panicky(ctx, &broker.Message{Facet: "panics"})
			}
			return nil
		})
		deliverN(t, b, "f", 1)
		startWorker(t, w, b)
		testutil.Eventually(t, 10*time.Second, func() bool {
			_, _, reps := rec.got()
			return len(reps) == 2
		}, "the panic's report and the retry's")
		_, _, reps := rec.got()
		p := reps[0].Panicked()
		if p == nil || reps[0].Outcome != worker.OutcomeRetry || !strings.Contains(string(p.Stack), "worker_test.panicky") {
			t.Fatalf("first report = %+v; want a retry of a *PanicError with panicky's frame", reps[0])
		}
		if reps[1].Outcome != worker.OutcomeAck || reps[1].Attempt != 2 {
			t.Errorf("second report = %+v; want the ack of attempt 2", reps[1])
		}
	})
}

// Observers start in the order given, each on the context the one before
// returned, and finish in the reverse order.
func TestObserverOrder(t *testing.T) {
	t.Parallel()
	b := newBroker(t, testutil.Backends()[0].Client(t), broker.Config{})
	var mu sync.Mutex
	var order []string
	w := worker.New(b, quick(worker.Config{}))
	for _, name := range []string{"outer", "inner"} {
		w.Observe(funcObserver{
			start: func(ctx context.Context) context.Context {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, "start "+name)
				return ctx
			},
			finish: func(context.Context) {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, "finish "+name)
			},
		})
	}
	w.HandleFunc("q", succeed)
	deliverN(t, b, "f", 1)
	startWorker(t, w, b)
	testutil.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 4
	}, "four calls")
	if got := strings.Join(order, ", "); got != "start outer, start inner, finish inner, finish outer" {
		t.Errorf("order = %s", got)
	}
}

type funcObserver struct {
	start  func(context.Context) context.Context
	finish func(context.Context)
}

func (f funcObserver) Start(ctx context.Context, _ *broker.Message) context.Context {
	return f.start(ctx)
}

func (f funcObserver) Finish(ctx context.Context, _ *broker.Message, _ worker.Report) { f.finish(ctx) }
