package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// runner is one run of a Worker: the fetcher, the handlers it starts, the
// acker and the lease keeper.
type runner struct {
	w        *Worker
	b        *broker.Broker
	cfg      Config
	handlers map[string]Handler
	obs      []Observer // see observer.go
	order    *queueOrder

	slots chan struct{} // one per running handler; capacity Concurrency

	fetchCtx     context.Context
	stopFetch    context.CancelFunc
	fetchDone    chan struct{}
	handlerCtx   context.Context
	hardStop     context.CancelCauseFunc
	handlersWG   sync.WaitGroup
	handlersIdle chan struct{} // closed when every handler returned after the fetcher stopped

	acker   *acker
	keeper  *keeper
	history *history
	failing failingQueues // used by the fetcher only
	retries *retriesDue   // when this process's retries fall due

	ackWaits sync.Map // *broker.Message → chan error: acks whose observers wait for the result

	checkDone chan struct{} // closed when checkServer returned

	stopOnce sync.Once
	finished chan struct{} // closed when everything has stopped
}

func newRunner(base context.Context, w *Worker, queues map[string]int, handlers map[string]Handler) *runner {
	r := &runner{
		w: w, b: w.b, cfg: w.cfg, handlers: handlers, obs: w.obs,
		order:        newQueueOrder(queues, w.cfg.StrictPriority),
		slots:        make(chan struct{}, w.cfg.Concurrency),
		fetchDone:    make(chan struct{}),
		checkDone:    make(chan struct{}),
		handlersIdle: make(chan struct{}),
		finished:     make(chan struct{}),
		failing:      make(failingQueues),
		retries:      newRetriesDue(),
	}
	r.fetchCtx, r.stopFetch = context.WithCancel(base)
	r.handlerCtx, r.hardStop = context.WithCancelCause(base)
	r.keeper = newKeeper(r.b, w.cfg.Logger, w.cfg.LeaseDuration)
	r.acker = newAcker(r.b, w.cfg.Logger, r.keeper, r.handlerCtx.Done(), w.cfg.Concurrency)
	r.history = newHistory(r.b, w.cfg.Logger)
	if len(r.obs) > 0 {
		r.acker.settled = r.acked
	}
	return r
}

func (r *runner) start() {
	r.w.health.setRunning(true)
	go r.acker.run()
	go r.keeper.run()
	go r.history.run()
	go r.checkServer(r.fetchCtx)
	go func() {
		defer close(r.fetchDone)
		supervise(r.fetchCtx, r.cfg.Logger, "fetcher", r.fetchLoop)
	}()
}

// stop shuts down in dependency order: the fetcher first, so no new work
// starts; then the handlers, which may still ack; then the lease keeper and
// the acker, which flushes the last acks.
func (r *runner) stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.w.health.setDraining(true)
		r.stopFetch()
		go func() {
			<-r.fetchDone
			<-r.checkDone
			r.handlersWG.Wait()
			close(r.handlersIdle)
			r.keeper.stop()
			r.acker.stop()
			r.history.stop()
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
			wake.wait(ctx, idleFor(r.cfg.PollInterval, next), r.retries)
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
		sent := time.Now()
		res, err := r.b.PullNext(ctx, q, n-len(got), r.cfg.LeaseDuration)
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
	ctx = context.WithValue(ctx, maxAttemptsKey{}, r.cfg.MaxAttempts)
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
			nackErr := r.b.Nack(ctx, m, rep.RetryDelay, broker.WithReason(err), broker.WithMaxAttempts(r.cfg.MaxAttempts), stackOf(err))
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
// (as the keeper last extended it) has ended, so that the message comes back
// by itself, or a hard stop. The first try is made whatever the time: a
// release after a hard stop is how a canceled handler's message goes back.
// It returns nil when op succeeded, else the error it stopped on.
func (r *runner) settle(m *broker.Message, what string, op func(context.Context) error) error {
	defer r.keeper.forget(m)
	retry := newRetryDelay()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		err := op(ctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, broker.ErrLeaseLost):
			r.cfg.Logger.Warn("fairway: lease lost before "+what, "queue", m.Queue, "id", m.ID)
			return err
		}
		r.w.health.setRedisErr(err)
		if !waitRetry(retry.next(), r.keeper.deadline(m), r.handlerCtx.Done()) {
			r.cfg.Logger.Error("fairway: gave up to "+what+"; the lease will expire", "queue", m.Queue, "id", m.ID, "err", err)
			return err
		}
	}
}

// settleTimeout bounds one try of a nack, dead-letter or release, as the
// acker bounds one AckMany.
const settleTimeout = 5 * time.Second
