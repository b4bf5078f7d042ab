package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// errInjected is the transient Redis failure ackFailer makes.
var errInjected = errors.New("injected: connection reset")

// ackFailer fails, without sending them, the ack scripts of one message
// once armed: a script call whose arguments end with the message's ID and a
// lease token, as ack.lua's do for a batch of one. Each failure is counted,
// so a test sees that it did inject one.
type ackFailer struct {
	mu     sync.Mutex
	id     string
	left   int  // failures still to make; -1: every ack
	anyArg bool // fail every script that carries the ID (nack, kill, release, extend too)
	// marker, if set, fails instead the scripts with an argument holding
	// it (a nack's or dead letter's reason), not the acks of id.
	marker string
	failed int
}

// arm makes the next n acks of id fail (n = -1: all of them).
func (f *ackFailer) arm(id string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id, f.left = id, n
}

// disarm lets every ack through again.
func (f *ackFailer) disarm() { f.arm("", 0) }

func (f *ackFailer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *ackFailer) hit(cmd redis.Cmder) bool {
	args := cmd.Args()
	if !strings.HasPrefix(cmd.Name(), "eval") || len(args) < 2 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left == 0 || !f.matches(args) {
		return false
	}
	if f.left > 0 {
		f.left--
	}
	f.failed++
	return true
}

// armMarker makes the next n scripts carrying marker in an argument fail.
func (f *ackFailer) armMarker(marker string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marker, f.left = marker, n
}

func (f *ackFailer) matches(args []any) bool {
	if f.marker != "" {
		for _, a := range args {
			if strings.Contains(fmt.Sprint(a), f.marker) {
				return true
			}
		}
		return false
	}
	// A lease script names the message by its lease, "<ID>|...", last.
	names := func(a any) bool { return strings.HasPrefix(fmt.Sprint(a), f.id+"|") }
	if !f.anyArg {
		return names(args[len(args)-1])
	}
	return slices.ContainsFunc(args, names)
}

func (f *ackFailer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *ackFailer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.hit(cmd) {
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

func (f *ackFailer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// skewedRedis is a client of a fresh redis-server whose clock is offset
// from ours (0: a real redis-server without the shim).
func skewedRedis(t *testing.T, offset time.Duration) *redis.Client {
	t.Helper()
	var srv *testutil.Server
	if offset == 0 {
		srv = testutil.StartServerT(t)
	} else {
		srv = testutil.StartSkewedServerT(t, offset)
	}
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clockCases are Redis's clock in step with ours, a minute behind and a
// minute ahead.
var clockCases = []struct {
	name   string
	offset time.Duration
}{
	{"same clock", 0},
	{"redis a minute behind", -time.Minute},
	{"redis a minute ahead", time.Minute},
}

// A handler runs past two lease periods, then Redis refuses the first ack:
// the acker retries it until the lease as the keeper last extended it ends,
// measured on the local clock only, so the message is acked once and never
// handled twice, whatever Redis's clock says. Before, it gave up at once
// when the pull-time deadline (on Redis's clock) had passed locally.
func TestAckRetriedUntilCurrentLeaseEnds(t *testing.T) {
	t.Parallel()
	for _, c := range clockCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const lease = time.Second
			rdb := skewedRedis(t, c.offset)
			fail := &ackFailer{}
			rdb.AddHook(fail)
			b := newBroker(t, rdb, broker.Config{})
			deliverN(t, b, "f", 1)

			var mu sync.Mutex
			handled := 0
			w := worker.New(b, quick(worker.Config{Concurrency: 1, LeaseDuration: lease}))
			w.HandleFunc("q", func(ctx context.Context, m *broker.Message) error {
				mu.Lock()
				handled++
				first := handled == 1
				mu.Unlock()
				if !first {
					return nil
				}
				// Outlive two lease periods; the keeper extends meanwhile.
				select {
				case <-time.After(5 * lease / 2):
				case <-ctx.Done():
					return ctx.Err()
				}
				fail.arm(m.ID, 1)
				return nil
			})
			startWorker(t, w, b)
			testutil.Eventually(t, 15*time.Second, drained(t, b), "the message was not acked")
			mu.Lock()
			defer mu.Unlock()
			if handled != 1 {
				t.Errorf("handled %d times, want 1", handled)
			}
			if n := fail.count(); n != 1 {
				t.Errorf("%d acks failed, want 1 (the test injected nothing?)", n)
			}
		})
	}
}

// With every ack of a message failing and Redis's clock a minute ahead, a
// graceful Stop returns once the message's lease has ended (the acker gives
// up then, and the message comes back), not a minute later, when the lease
// would end by Redis's clock read as ours.
func TestAckGivesUpWhenLeaseEndsWithRedisAhead(t *testing.T) {
	t.Parallel()
	const lease = time.Second
	rdb := skewedRedis(t, time.Minute)
	fail := &ackFailer{}
	rdb.AddHook(fail)
	b := newBroker(t, rdb, broker.Config{})
	deliverN(t, b, "f", 1)
	done := make(chan struct{})
	w := worker.New(b, quick(worker.Config{Concurrency: 1, LeaseDuration: lease}))
	w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
		fail.arm(m.ID, -1)
		close(done)
		return nil
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := w.Stop(ctx); err != nil {
		t.Fatalf("stop: %v after %v", err, time.Since(start))
	}
	if took := time.Since(start); took > 3*lease {
		t.Errorf("stop took %v with a lease of %v", took, lease)
	}
	if fail.count() == 0 {
		t.Error("no ack failed: the test injected nothing")
	}
	fail.disarm()
	// Nothing lost: the message comes back to its facet.
	testutil.Eventually(t, 10*time.Second, func() bool {
		m, err := b.Pull(context.Background(), "q")
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			if err := b.Ack(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
		return m != nil
	}, "the message did not come back")
	if err := testutil.CheckQueue(context.Background(), rdb, b.Namespace(), "q"); err != nil {
		t.Error(err)
	}
}

// A hard stop ends the retries of a failing settle at once: with every ack
// (or every script carrying the message, for a nack) failing and a 30s
// lease, Stop returns soon after its context ends instead of waiting for
// the lease (or the hard stop's grace) to run out.
func TestSettleRetriesEndOnHardStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		anyArg  bool  // fail every script carrying the message, not only its ack
		outcome error // what the handler returns
	}{
		{"ack", false, nil},
		{"nack", true, errors.New("handler failed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := testutil.RealRedis(t)
			fail := &ackFailer{anyArg: tc.anyArg}
			rdb.AddHook(fail)
			b := newBroker(t, rdb, broker.Config{})
			deliverN(t, b, "f", 1)
			done := make(chan struct{})
			w := worker.New(b, quick(worker.Config{Concurrency: 1, LeaseDuration: 30 * time.Second}))
			w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
				fail.arm(m.ID, -1)
				close(done)
				return tc.outcome
			})
			if err := w.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			<-done
			const grace = 500 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			start := time.Now()
			err := w.Stop(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("stop: %v, want the context's deadline", err)
			}
			if took > grace+2*time.Second {
				t.Errorf("stop took %v after a context of %v", took, grace)
			}
			if fail.count() == 0 {
				t.Errorf("no %s failed: the test injected nothing", tc.name)
			}
		})
	}
}

// A handler runs past two lease periods (the keeper extends its lease
// meanwhile), then Redis refuses the first try of its settlement: an ack, a
// nack (retry in an hour) or a dead letter. The settlement is retried until
// the lease as the keeper last extended it ends, so it is applied once and
// the message is never handled twice, on miniredis and on a real
// redis-server.
func TestSettleAfterExtensionRetriedUntilCurrentLeaseEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result func(marker string) error // what the handler returns
		done   func(s broker.QueueStats) bool
	}{
		{"ack", func(string) error { return nil },
			func(s broker.QueueStats) bool {
				return s.Ready == 0 && s.InFlight == 0 && s.Delayed == 0 && s.Dead == 0
			}},
		{"nack", func(marker string) error { return worker.RetryAfter(errors.New(marker), time.Hour) },
			func(s broker.QueueStats) bool { return s.Delayed == 1 && s.Ready == 0 && s.InFlight == 0 }},
		{"dead letter", func(marker string) error { return worker.SkipRetry(errors.New(marker)) },
			func(s broker.QueueStats) bool { return s.Dead == 1 && s.Ready == 0 && s.InFlight == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
				const lease = time.Second
				fail := &ackFailer{}
				rdb.AddHook(fail)
				b := newBroker(t, rdb, broker.Config{})
				deliverN(t, b, "f", 1)
				var handled atomic.Int32
				w := worker.New(b, quick(worker.Config{Concurrency: 1, LeaseDuration: lease}))
				w.HandleFunc("q", func(ctx context.Context, m *broker.Message) error {
					if handled.Add(1) > 1 {
						return nil
					}
					// Outlive two lease periods; the keeper extends meanwhile.
					select {
					case <-time.After(5 * lease / 2):
					case <-ctx.Done():
						return ctx.Err()
					}
					marker := "refused-once-" + m.ID
					if tc.name == "ack" {
						fail.arm(m.ID, 1)
					} else {
						fail.armMarker(marker, 1)
					}
					return tc.result(marker)
				})
				startWorker(t, w, b)
				testutil.Eventually(t, 15*time.Second, func() bool { return tc.done(stats(t, b)) },
					"the "+tc.name+" was not applied")
				// Past the lease the pull had granted and the one last
				// extended: a settlement given up would have let the
				// message run again by now.
				time.Sleep(3 * lease / 2)
				if n := handled.Load(); n != 1 {
					t.Errorf("handled %d times, want 1", n)
				}
				if n := fail.count(); n != 1 {
					t.Errorf("%d tries failed, want 1 (the test injected nothing?)", n)
				}
			})
		})
	}
}
