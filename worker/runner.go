package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// runner is one run of a Worker: the handlers, and the services around
// them (the fetcher and server check, the acker, the lease keeper, the
// history flusher), run by one supervisor.
type runner struct {
	w        *Worker
	b        *broker.Broker
	cfg      Config
	handlers map[string]Handler
	obs      []Observer // see observer.go
	order    *queueOrder

	slots chan struct{} // one per running handler; capacity Concurrency
	caps  *queueCaps    // Config.QueueConcurrency

	base         context.Context
	handlerCtx   context.Context
	hardStop     context.CancelCauseFunc
	handlersWG   sync.WaitGroup
	handlersIdle chan struct{} // closed when every handler returned after the fetcher stopped

	acker   *acker
	keeper  *keeper
	history *history
	failing failingQueues // used by the fetcher only
	retries *retriesDue   // when this process's retries fall due

	sup                                *supervisor
	fetching, acking, keeping, writing *stage // the services, in stop order

	ackWaits sync.Map // *broker.Message → chan error: acks whose observers wait for the result

	stopOnce sync.Once
	finished chan struct{} // closed when everything has stopped
}

func newRunner(base context.Context, w *Worker, queues map[string]int, handlers map[string]Handler) *runner {
	r := &runner{
		w: w, b: w.b, cfg: w.cfg, handlers: handlers, obs: w.obs,
		order:        newQueueOrder(queues, w.cfg.StrictPriority),
		slots:        make(chan struct{}, w.cfg.Concurrency),
		caps:         newQueueCaps(w.cfg.QueueConcurrency),
		base:         base,
		sup:          &supervisor{log: w.cfg.Logger, hooks: w.hooks},
		handlersIdle: make(chan struct{}),
		finished:     make(chan struct{}),
		failing:      make(failingQueues),
		retries:      newRetriesDue(),
	}
	r.handlerCtx, r.hardStop = context.WithCancelCause(base)
	r.keeper = newKeeper(r.b, w.cfg.Logger, w.cfg.LeaseDuration)
	r.acker = newAcker(r.b, w.cfg.Logger, r.keeper, r.handlerCtx.Done(), w.cfg.Concurrency)
	r.history = newHistory(r.b, w.cfg.Logger)
	if len(r.obs) > 0 {
		r.acker.settled = r.acked
	}
	return r
}

// start starts the services, the last to stop first.
func (r *runner) start() {
	r.w.health.setRunning(true)
	r.writing = r.sup.start(r.base, service{"history", r.history.run})
	r.keeping = r.sup.start(r.base, service{"lease keeper", r.keeper.run})
	r.acking = r.sup.start(r.base, service{"acker", r.acker.run})
	r.fetching = r.sup.start(r.base,
		service{"fetcher", r.fetchLoop},
		service{"server check", r.checkServer})
}

// stop shuts down in dependency order, each step once the one before it
// is done:
//
//  1. the fetcher (and server check), so that no new work starts;
//  2. the handlers, which finish within the caller's deadline (Config.
//     ShutdownTimeout for Run) and are canceled after it; their nacks,
//     dead letters and releases are sent by the time they return;
//  3. the acker, which flushes the last acks, each retried until its lease
//     ends (or a hard stop);
//  4. the lease keeper, which owns the leases the steps before it read
//     their retry deadlines from, so it outlives every one of them;
//  5. the history, last, so that its final write counts every outcome and
//     never delays an ack racing its lease.
func (r *runner) stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.w.health.setDraining(true)
		r.fetching.cancel()
		go func() {
			r.fetching.wait()
			r.handlersWG.Wait()
			close(r.handlersIdle)
			r.acking.stop()
			r.keeping.stop()
			r.writing.stop()
			r.w.health.setRunning(false)
			close(r.finished)
		}()
	})
	select {
	case <-r.finished:
		return nil
	case <-ctx.Done():
	}
	// Out of time: cancel the handlers still running. Their messages go back
	// to the queue when they return (see process).
	r.hardStop(ErrShutdown)
	select {
	case <-r.finished:
	case <-time.After(hardStopGrace):
		r.cfg.Logger.Error("fairway: handlers ignore their canceled context; their leases will expire")
	}
	return ctx.Err()
}

// hardStopGrace is how long a hard stop waits for canceled handlers.
const hardStopGrace = 5 * time.Second

// fetchLoop pulls batches sized to the free handler slots and starts a
// handler for each message, waiting for a wake signal or the poll interval
// when the queues are empty.
func (r *runner) fetchLoop(ctx context.Context) error {
	wake := newWaker(r.b, r.order.queues(), r.cfg.Logger)
	defer wake.close()
	retry := newRetryDelay()
	for {
		n, ok := r.acquire(ctx)
		if !ok {
			return nil
		}
		got, next, err := r.pull(ctx, n)
		r.release(n - len(got))
		for _, m := range got {
			r.dispatch(m)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.w.health.setRedisErr(err)
			r.cfg.Logger.Warn("fairway: pull failed; retrying", "err", err)
			if !sleepCtx(ctx, retry.next()) {
				return nil
			}
		case len(got) == 0:
			r.w.health.setRedisErr(nil)
			retry.reset()
			wake.wait(ctx, idleFor(r.cfg.PollInterval, next), r.retries, r.caps.freed)
		default:
			r.w.health.setRedisErr(nil)
			retry.reset()
		}
	}
}

// acquire takes at least one free slot, waiting for it, and then every other
// free slot there is.
func (r *runner) acquire(ctx context.Context) (int, bool) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, false
	}
	n := 1
	for n < broker.MaxPullBatch {
		select {
		case r.slots <- struct{}{}:
			n++
		default:
			return n, true
		}
	}
	return n, true
}

func (r *runner) release(n int) {
	for range n {
		<-r.slots
	}
}

// pull takes up to n messages from the queues in the order queueOrder gives. next is how
// soon the first facet held back by its rate limit frees up (0: none).
//
// A queue whose pull fails is skipped, with its own backoff, while another
// answers (see failingQueues), so that one broken queue cannot hold every
// other queue of the worker back by the fetcher's backoff (up to 5s a
// message). The error is returned only when no queue answered.
func (r *runner) pull(ctx context.Context, n int) (got []*broker.Message, next time.Duration, err error) {
	answered := false
	for _, q := range r.order.next() {
		if r.failing.held(q) {
			continue
		}
		// A queue at its Config.QueueConcurrency cap is skipped; its
		// handlers' places go to the other queues.
		count := r.caps.room(q, n-len(got))
		if count == 0 {
			continue
		}
		sent := time.Now()
		res, err := r.b.PullWith(ctx, q, broker.PullOptions{Count: count, Lease: r.cfg.LeaseDuration})
		if errors.Is(err, broker.ErrUnknownQueue) {
			// Redis answered: the queue is gone. Registered again, it
			// is pulled on the next round; else it waits out its backoff,
			// reported once, not on every try.
			answered = true
			if err := r.unknownQueue(ctx, q); err != nil {
				r.failing.missing(q, err)
			}
			continue
		}
		if err != nil {
			err = r.failing.failed(q, err)
			if ctx.Err() == nil {
				r.cfg.Logger.Warn("fairway: pull failed; retrying the queue later", "err", err)
			}
			continue
		}
		r.failing.answered(q)
		r.queueAnswered(q)
		answered = true
		r.caps.started(q, len(res.Messages))
		for _, m := range res.Messages {
			r.keeper.hold(m, pulledDeadline(sent, r.cfg.LeaseDuration))
		}
		got = append(got, res.Messages...)
		if len(got) == n {
			break
		}
		next = sooner(next, res)
	}
	if !answered {
		return got, next, r.failing.errs()
	}
	return got, next, nil
}

func (r *runner) dispatch(m *broker.Message) {
	r.handlersWG.Add(1)
	go func() {
		defer r.handlersWG.Done()
		report := r.process(m)
		r.caps.done(m.Queue)
		r.release(1)
		report()
	}()
}

// process runs m's handler, decides the outcome and acts on it. It returns
// the call that tells the observers what was done: for an ack, that waits
// for the acker, so the caller frees the handler's slot first.
func (r *runner) process(m *broker.Message) (report func()) {
	ctx, cancel := context.WithCancelCause(r.handlerCtx)
	defer cancel(nil)
	r.keeper.track(m, cancel)
	hctx, o := r.startObservers(ctx, m)
	began := time.Now()
	err := callHandler(hctx, r.handlers[m.Queue], m)
	rep := Report{Err: err, Duration: time.Since(began), Attempt: m.Attempt}
	r.keeper.untrack(m)
	rep.Outcome = classify(ctx, m, err)
	r.history.count(m.Queue, rep.Outcome)
	if rep.Outcome == OutcomeAck {
		return r.ack(m, o, rep)
	}
	rep = r.act(m, rep)
	return func() { r.finish(o, m, rep) }
}

// ack hands m to the acker. With observers, the report waits for the ack's
// result: an ack refused because the lease was lost, or given up on, is
// reported as lost.
func (r *runner) ack(m *broker.Message, o observation, rep Report) func() {
	if len(o.obs) == 0 {
		r.acker.ack(m)
		return func() {}
	}
	done := make(chan error, 1)
	r.ackWaits.Store(m, done)
	r.acker.ack(m)
	return func() {
		if err := <-done; err != nil {
			rep.Outcome, rep.SettleErr = OutcomeLost, err
		}
		r.finish(o, m, rep)
	}
}

// act does what rep.Outcome says, other than ack, and returns rep with what
// was done: a broker call that failed for good makes it lost.
func (r *runner) act(m *broker.Message, rep Report) Report {
	err := rep.Err
	var settleErr error
	switch rep.Outcome {
	case OutcomeRetry:
		rep.RetryDelay = r.retryDelay(m, err)
		settleErr = r.settle(m, "nack", func(ctx context.Context) error {
			nackErr := r.b.Nack(ctx, m, rep.RetryDelay, broker.WithReason(err), stackOf(err))
			if nackErr == nil {
				// Taken after Redis answered: never before the retry is due.
				r.retries.add(time.Now().Add(rep.RetryDelay))
			}
			return nackErr
		})
	case OutcomeDead:
		settleErr = r.settle(m, "dead-letter", func(ctx context.Context) error {
			return r.b.Kill(ctx, m, err.Error(), stackOf(err))
		})
	case OutcomeRelease:
		settleErr = r.settle(m, "release", func(ctx context.Context) error { return r.b.Release(ctx, m) })
	case OutcomeLost:
		r.keeper.forget(m)
		r.cfg.Logger.Warn("fairway: lease lost while handling", "queue", m.Queue, "id", m.ID)
	}
	if settleErr != nil {
		rep.Outcome, rep.SettleErr, rep.RetryDelay = OutcomeLost, settleErr, 0
	}
	return rep
}

// retryDelay is the delay before m's next attempt after its handler
// returned err: RetryAfter's, else Config.RetryBackoff's.
func (r *runner) retryDelay(m *broker.Message, err error) time.Duration {
	delay := r.cfg.RetryBackoff(m.Attempt)
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		delay = ra.Delay
	}
	return max(delay, 0)
}

// stackOf keeps the stack of a panic that err holds with the message, if it
// becomes a dead letter (broker.WithStack). Only a failed attempt pays for
// it; a retried one keeps nothing (the broker drops its reason too).
func stackOf(err error) broker.NackOption {
	var p *PanicError
	if !errors.As(err, &p) {
		return broker.WithStack("")
	}
	return broker.WithStack(string(p.Stack))
}

// callHandler runs h, turning a panic into a *PanicError: errgroup-style
// goroutines do not recover, and one bad message must not kill the process.
// This is the one place a handler's panic is recovered: the middleware and
// observers see it as this error.
func callHandler(ctx context.Context, h Handler, m *broker.Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = NewPanicError(v)
		}
	}()
	return h.Handle(ctx, m)
}

// settle runs op until it succeeds, the lease is lost, the current lease
// has ended, or a hard stop: the keeper's one retry rule (keeper.settle).
// It returns nil when op succeeded, else the error it stopped on.
func (r *runner) settle(m *broker.Message, what string, op func(context.Context) error) error {
	res, err := r.keeper.settle(what, []*broker.Message{m}, r.handlerCtx.Done(), r.w.health.setRedisErr, nil,
		func(ctx context.Context, _ []*broker.Message) error { return op(ctx) })
	switch res {
	case settledLost:
		r.cfg.Logger.Warn("fairway: lease lost before "+what, "queue", m.Queue, "id", m.ID)
	case settledGaveUp:
		r.cfg.Logger.Error("fairway: gave up to "+what+"; the lease will expire", "queue", m.Queue, "id", m.ID, "err", err)
	}
	if res == settledDone {
		return nil
	}
	return err
}
