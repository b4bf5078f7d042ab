package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"golang.org/x/sync/errgroup"
)

// service is one long-running part of a runner: the fetcher, the server
// check, the acker, the lease keeper or the history flusher. Its body runs
// until its context ends, then returns nil after doing its last work (the
// acker flushes its last acks, the history its last counts).
type service struct {
	name string
	body func(context.Context) error
}

// supervisor runs services, each in a goroutine of an errgroup, restarting a
// body that panics or fails with backoff and a log line (see supervise), so
// that one bad moment cannot stop a worker for good. errgroup does not
// recover panics: supervise does, around each run of a body.
//
// Services are started in stages; a stage's services stop together, and
// the runner stops its stages one after the other (see runner.stop).
type supervisor struct {
	log *slog.Logger
	// hooks are for tests; nil in production.
	hooks *serviceHooks
}

// serviceHooks let a test inject a panic into a service body (onRun runs
// inside its recover, before each run of the body) and see the order in
// which services stop (onStop runs when a service has stopped for good).
type serviceHooks struct {
	onRun  func(name string)
	onStop func(name string)
}

// stage is a group of services started together and stopped together.
type stage struct {
	cancel context.CancelFunc
	group  errgroup.Group
}

// start runs svcs until the stage stops or parent ends.
func (s *supervisor) start(parent context.Context, svcs ...service) *stage {
	ctx, cancel := context.WithCancel(parent)
	st := &stage{cancel: cancel}
	for _, sv := range svcs {
		st.group.Go(func() error {
			body := sv.body
			if h := s.hooks; h != nil && h.onRun != nil {
				body = func(ctx context.Context) error {
					h.onRun(sv.name)
					return sv.body(ctx)
				}
			}
			supervise(ctx, s.log, sv.name, body)
			if h := s.hooks; h != nil && h.onStop != nil {
				h.onStop(sv.name)
			}
			return nil
		})
	}
	return st
}

// stop ends the stage's services and returns once each body has returned.
func (st *stage) stop() {
	st.cancel()
	st.wait()
}

// wait returns once each of the stage's services has returned.
func (st *stage) wait() { _ = st.group.Wait() }

// supervise runs fn until ctx ends, restarting it with backoff when it fails
// or panics. A body that returns nil, or fails once ctx has ended, is done.
func supervise(ctx context.Context, log *slog.Logger, name string, fn func(context.Context) error) {
	retry := newRetryDelay()
	for ctx.Err() == nil {
		err := runRecovered(ctx, fn)
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Error("fairway: "+name+" failed; restarting", "err", err)
		sleepCtx(ctx, retry.next())
	}
}

func runRecovered(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v\n%s", v, NewPanicError(v).Stack)
		}
	}()
	return fn(ctx)
}

// retryDelay is exponential backoff with jitter for retrying Redis calls:
// from 50ms, doubling, up to 5s.
type retryDelay struct{ d time.Duration }

func newRetryDelay() *retryDelay { return &retryDelay{} }

func (r *retryDelay) next() time.Duration {
	r.d = min(max(2*r.d, 50*time.Millisecond), 5*time.Second)
	return r.d/2 + rand.N(r.d/2+1)
}

func (r *retryDelay) reset() { r.d = 0 }

// sleepCtx sleeps for d; it returns false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
