package middleware

import (
	"log/slog"
	"time"

	"github.com/fairwayhq/fairway/worker"
)

// DefaultConfig configures the chain Default returns. The zero value is
// usable.
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
	// Tracing configures the tracing middleware. Defaults to
	// OpenTelemetry's global tracer provider and propagator.
	Tracing []TracingOption
	// Metrics configures the metrics middleware. Defaults to
	// OpenTelemetry's global meter provider.
	Metrics []MetricsOption
}

// Default returns the recommended middleware chain, outermost first:
//
//	Tracing → Metrics → Logging → Recover → Timeout → Retry (opt-in)
//
// Give it to the worker's Use whole: w.Use(middleware.Default(cfg)...).
//
// Tracing is outermost so its span covers everything and the layers below
// run in its context (log lines carry its trace ID). Metrics and Logging
// observe the delivery's final result, once, above Retry's tries. Recover
// sits below these three so that a panic anywhere beneath reaches them as a
// *worker.PanicError: a span with status Error, a failed count and an Error
// line with the stack. Timeout is above Retry so the timeout bounds all tries
// together, and Retry is innermost so it repeats only the handler. The
// package documentation says more.
func Default(cfg DefaultConfig) []worker.Middleware {
	mws := []worker.Middleware{
		Tracing(cfg.Tracing...),
		Metrics(cfg.Metrics...),
		Logging(cfg.Logger),
		Recover(),
	}
	if cfg.Timeout > 0 {
		mws = append(mws, Timeout(cfg.Timeout))
	}
	if len(cfg.Retry) > 0 {
		mws = append(mws, Retry(cfg.Retry...))
	}
	return mws
}
