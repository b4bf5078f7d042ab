package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/fairwayhq/fairway/broker"
)

// Worker runs registered handlers on messages pulled from the broker's
// queues. Register handlers and middleware, then call Run (programs) or
// Start and Stop (embedding). A Worker runs once; make a new one to run again.
type Worker struct {
	b   *broker.Broker
	cfg Config
	err error // from Config validation, reported by Start

	mu       sync.Mutex
	handlers map[string]Handler
	mws      []Middleware
	obs      []Observer
	run      *runner
	health   health
	hooks    *serviceHooks // for tests
}

// New returns a Worker pulling from b. Config errors are reported by Start
// and Run.
func New(b *broker.Broker, cfg Config) *Worker {
	w := &Worker{b: b, handlers: make(map[string]Handler)}
	if b == nil {
		w.err = errors.New("worker: nil broker")
		return w
	}
	w.cfg = cfg.withDefaults(b)
	w.err = w.cfg.validate()
	return w
}

// Handle registers h for queue. It panics if queue is not a valid queue name,
// already has a handler, or h is nil, or if the worker has started: these are
// programming errors. Register is the twin that returns the error.
func (w *Worker) Handle(queue string, h Handler) {
	if err := w.Register(queue, h); err != nil {
		panic(err.Error())
	}
}

// HandleFunc registers f for queue, as Handle does.
func (w *Worker) HandleFunc(queue string, f func(context.Context, *broker.Message) error) {
	if f == nil {
		panic(fmt.Sprintf("%v: nil handler func for queue %q", ErrInvalidRegistration, queue))
	}
	w.Handle(queue, HandlerFunc(f))
}

// Register registers h for queue, returning an error wrapping
// ErrInvalidRegistration where Handle would panic.
func (w *Worker) Register(queue string, h Handler) error {
	if err := broker.ValidateQueueName(queue); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRegistration, err)
	}
	if h == nil {
		return fmt.Errorf("%w: nil handler for queue %q", ErrInvalidRegistration, queue)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.run != nil {
		return fmt.Errorf("%w: queue %q: the worker has started", ErrInvalidRegistration, queue)
	}
	if _, dup := w.handlers[queue]; dup {
		return fmt.Errorf("%w: queue %q already has a handler", ErrInvalidRegistration, queue)
	}
	w.handlers[queue] = h
	return nil
}

// Use adds middleware around every handler. The first middleware given is
// the outermost: it sees the message first and the result last. It panics on
// a nil middleware or after the worker has started.
func (w *Worker) Use(mws ...Middleware) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.run != nil {
		panic(fmt.Sprintf("%v: Use after the worker has started", ErrInvalidRegistration))
	}
	for _, mw := range mws {
		if mw == nil {
			panic(fmt.Sprintf("%v: nil middleware", ErrInvalidRegistration))
		}
	}
	w.mws = append(w.mws, mws...)
}

// Run starts the worker and blocks until ctx ends, then shuts down
// gracefully: it stops fetching at once, lets running handlers finish within
// Config.ShutdownTimeout, then cancels the rest (their context's cause is
// ErrShutdown) and hands their messages back. It returns nil after a clean
// drain. The library never traps signals: use signal.NotifyContext.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
	defer cancel()
	if err := w.Stop(stopCtx); err != nil {
		return fmt.Errorf("worker: handlers did not finish within ShutdownTimeout %v and were canceled: %w", w.cfg.ShutdownTimeout, err)
	}
	return nil
}

// Start starts fetching and handling in the background and returns. Handlers'
// contexts carry ctx's values but not its cancellation: call Stop to stop.
//
// First it registers the queues of Config.Routes and checks that every
// other served queue exists, failing with an error wrapping
// broker.ErrPatternConflict or ErrQueueMissing that names the queue. When
// Redis does not answer (within a few seconds) it logs that and starts
// anyway: the worker waits for Redis, not ready meanwhile, and then heals
// or reports a missing queue as it would later.
func (w *Worker) Start(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if ctx == nil {
		return errors.New("worker: nil context")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.run != nil {
		return ErrAlreadyStarted
	}
	queues, err := w.servedQueues()
	if err != nil {
		return err
	}
	if err := w.checkQueues(ctx, queues); err != nil {
		return err
	}
	handlers := make(map[string]Handler, len(queues))
	for q := range queues {
		handlers[q] = chain(w.handlers[q], w.mws)
	}
	w.run = newRunner(context.WithoutCancel(ctx), w, queues, handlers)
	w.run.start()
	return nil
}

// servedQueues is Config.Queues, or every queue with a handler at weight 1.
func (w *Worker) servedQueues() (map[string]int, error) {
	if len(w.handlers) == 0 {
		return nil, fmt.Errorf("%w: no handler registered", ErrInvalidRegistration)
	}
	for _, q := range slices.Sorted(maps.Keys(w.cfg.Routes)) {
		if w.handlers[q] == nil {
			return nil, fmt.Errorf("%w: Config.Routes names %q, which has no handler", ErrInvalidRegistration, q)
		}
		if _, ok := w.cfg.Queues[q]; len(w.cfg.Queues) > 0 && !ok {
			return nil, fmt.Errorf("%w: Config.Routes names %q, which Config.Queues leaves out", ErrInvalidRegistration, q)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(w.cfg.QueueConcurrency)) {
		if w.handlers[q] == nil {
			return nil, fmt.Errorf("%w: Config.QueueConcurrency names %q, which has no handler", ErrInvalidRegistration, q)
		}
		if _, ok := w.cfg.Queues[q]; len(w.cfg.Queues) > 0 && !ok {
			return nil, fmt.Errorf("%w: Config.QueueConcurrency names %q, which Config.Queues leaves out", ErrInvalidRegistration, q)
		}
	}
	if len(w.cfg.Queues) == 0 {
		queues := make(map[string]int, len(w.handlers))
		for q := range w.handlers {
			queues[q] = 1
		}
		return queues, nil
	}
	for _, q := range slices.Sorted(maps.Keys(w.cfg.Queues)) {
		if w.handlers[q] == nil {
			return nil, fmt.Errorf("%w: Config.Queues names %q, which has no handler", ErrInvalidRegistration, q)
		}
	}
	return maps.Clone(w.cfg.Queues), nil
}

// Stop stops the worker gracefully: no more fetching, running handlers
// finish, pending acks are sent. If ctx ends first, it cancels the running
// handlers (cause ErrShutdown), hands their messages back, and returns
// ctx.Err(); calling Stop again waits for what is left. Stop on a worker that
// never started returns nil.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	r := w.run
	w.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.stop(ctx)
}
