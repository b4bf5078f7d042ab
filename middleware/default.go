package middleware

import (
	"log/slog"
	"time"

	"github.com/fairwayhq/fairway/worker"
)

// DefaultConfig configures the observers and middleware Default returns.
// The zero value is usable.
type DefaultConfig struct {
	// Logger receives Logging's line per message. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Timeout bounds the handling of each delivery, in-process retries
	// included (see Timeout). Defaults to 0: no Timeout middleware; the
	// worker's shutdown and lost leases still end handlers' contexts.
	Timeout time.Duration
	// Retry, when given, adds in-process retries configured by these
	// options (for example WithMaxTries(3)) innermost in the chain.
	// Defaults to none: a failed handler is retried only durably, by the
	// worker, so a message runs at most its MaxAttempts times. With k
	// in-process tries each durable attempt may run the handler k times:
	// up to k × MaxAttempts runs in all.
	Retry []RetryOption
	// Tracing configures the tracing observer. Defaults to
	// OpenTelemetry's global tracer provider and propagator.
	Tracing []TracingOption
	// Metrics configures the metrics observer. Defaults to
	// OpenTelemetry's global meter provider.
	Metrics []MetricsOption
}

// Stack is a set of observers and middleware for a Worker: Install adds
// them.
type Stack struct {
	// Observers are given to the worker's Observe, in order: the first
	// starts first and finishes last.
	Observers []worker.Observer
	// Middleware is given to the worker's Use, outermost first.
	Middleware []worker.Middleware
}

// Install registers s on w: w.Observe(s.Observers...), then
// w.Use(s.Middleware...).
func (s Stack) Install(w *worker.Worker) {
	w.Observe(s.Observers...)
	w.Use(s.Middleware...)
}

// Default returns the recommended stack. Install it whole:
// middleware.Default(cfg).Install(w). Its observers, first to start first:
//
//	Tracing → Metrics → Logging
//
// and its middleware, outermost first:
//
//	Timeout → Retry (opt-in)
//
// Tracing starts first so that the other observers, the middleware and the
// handler run in its span's context (log lines carry its trace ID), and it
// finishes last. The observers hear, once per delivery, what the worker did
// with the message, after it did it, so the span, the metrics and the line
// agree; a panic reaches them as the worker's *worker.PanicError. Timeout is
// above Retry so the timeout bounds all tries together, and Retry is
// innermost so it repeats only the handler. The package documentation says
// more.
func Default(cfg DefaultConfig) Stack {
	s := Stack{Observers: []worker.Observer{
		Tracing(cfg.Tracing...),
		Metrics(cfg.Metrics...),
		Logging(cfg.Logger),
	}}
	if cfg.Timeout > 0 {
		s.Middleware = append(s.Middleware, Timeout(cfg.Timeout))
	}
	if len(cfg.Retry) > 0 {
		s.Middleware = append(s.Middleware, Retry(cfg.Retry...))
	}
	return s
}
