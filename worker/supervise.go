package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// supervise runs fn until ctx ends, restarting it with backoff when it fails
// or panics, so one bad moment cannot stop a worker for good.
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
