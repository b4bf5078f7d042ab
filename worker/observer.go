package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// Observer watches the handling of messages without taking part in it:
// tracing, metrics and logging. Middleware wraps a handler and may change
// what it returns; an observer only hears, once per delivery, what the
// worker did with the message, so that every observer reports the same
// thing and it is what happened in Redis.
//
// Register observers with Worker.Observe. Start is called before the
// middleware chain, in the order the observers were given; Finish in the
// reverse order, after the worker acted on the outcome.
type Observer interface {
	// Start is called before m's handler runs. The context it returns is
	// passed to the next observer and then to the middleware and the
	// handler: a tracing observer starts its span here so the handler's
	// spans are its children. Return ctx itself to add nothing.
	Start(ctx context.Context, m *broker.Message) context.Context
	// Finish is called once per Start with what the worker did, and with
	// the context this observer's Start returned.
	Finish(ctx context.Context, m *broker.Message, r Report)
}

// Report is what the worker did with one delivery, given to Observer.Finish.
type Report struct {
	// Outcome is what the worker did: ack, retry, dead, release, or lost
	// when it does not hold the message any more (its lease was lost
	// while handling or when settling, or the broker call failed until
	// the lease ended; SettleErr says which).
	Outcome Outcome
	// Err is the handler's error, nil on success; a *PanicError, with the
	// stack, when the handler panicked.
	Err error
	// SettleErr is the error of the ack, nack, dead-letter or release the
	// worker gave up on; Outcome is then OutcomeLost. Nil otherwise.
	SettleErr error
	// Duration is how long the middleware chain and the handler ran.
	Duration time.Duration
	// Attempt is the message's delivery attempt, 1 on the first.
	Attempt int
	// RetryDelay is the delay before the next attempt, when Outcome is
	// OutcomeRetry.
	RetryDelay time.Duration
}

// Panicked returns the handler's panic, found in Err with errors.As, or nil
// if it did not panic.
func (r Report) Panicked() *PanicError {
	var p *PanicError
	if !errors.As(r.Err, &p) {
		return nil
	}
	return p
}

// Observe adds observers of every handled message (see Observer). It panics
// on a nil observer or after the worker has started.
func (w *Worker) Observe(obs ...Observer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.run != nil {
		panic(fmt.Sprintf("%v: Observe after the worker has started", ErrInvalidRegistration))
	}
	for _, o := range obs {
		if o == nil {
			panic(fmt.Sprintf("%v: nil observer", ErrInvalidRegistration))
		}
	}
	w.obs = append(w.obs, obs...)
}

// observation is one delivery's observers and the contexts their Starts
// returned.
type observation struct {
	obs  []Observer
	ctxs []context.Context
}

// startObservers calls each observer's Start in order and returns the
// context for the handler. A panicking Start is logged; the observers
// started before it are finished as usual, the others left out.
func (r *runner) startObservers(ctx context.Context, m *broker.Message) (context.Context, observation) {
	if len(r.obs) == 0 {
		return ctx, observation{}
	}
	o := observation{ctxs: make([]context.Context, 0, len(r.obs))}
	for _, ob := range r.obs {
		next, ok := r.startOne(ctx, ob, m)
		if !ok {
			break
		}
		ctx = next
		o.obs = r.obs[:len(o.ctxs)+1]
		o.ctxs = append(o.ctxs, ctx)
	}
	return ctx, o
}

func (r *runner) startOne(ctx context.Context, ob Observer, m *broker.Message) (_ context.Context, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			r.cfg.Logger.Error("fairway: observer panicked", "queue", m.Queue, "id", m.ID, "err", NewPanicError(v))
		}
	}()
	next := ob.Start(ctx, m)
	if next == nil {
		next = ctx
	}
	return next, true
}

// finish hands rep to the observers, last started first. A panicking
// observer is logged and the others still hear.
func (r *runner) finish(o observation, m *broker.Message, rep Report) {
	for i := len(o.obs) - 1; i >= 0; i-- {
		r.finishOne(o.ctxs[i], o.obs[i], m, rep)
	}
}

func (r *runner) finishOne(ctx context.Context, ob Observer, m *broker.Message, rep Report) {
	defer func() {
		if v := recover(); v != nil {
			r.cfg.Logger.Error("fairway: observer panicked", "queue", m.Queue, "id", m.ID, "err", NewPanicError(v))
		}
	}()
	ob.Finish(ctx, m, rep)
}

// acked hands the result of m's ack to the process waiting for it.
func (r *runner) acked(m *broker.Message, err error) {
	if v, ok := r.ackWaits.LoadAndDelete(m); ok {
		if ch, ok := v.(chan error); ok {
			ch <- err
		}
	}
}
