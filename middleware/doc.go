// Package middleware holds what a Fairway worker runs around its handlers:
// observers (OpenTelemetry tracing and metrics, structured logging with
// log/slog) and middleware (in-process retries, timeouts, panic recovery for
// chains outside a worker).
//
// The two kinds follow River's split of hooks and middleware. A
// worker.Middleware, a func(worker.Handler) worker.Handler in the style of
// net/http, wraps the handler and may change what it returns; give it to the
// worker's Use, the first one given outermost. A worker.Observer only
// watches: its Start runs before the middleware and may derive the context
// (Tracing starts its span there, so the handler's spans are its children),
// and its Finish hears once, in a worker.Report, what the worker did with
// the message (ack, retry with its delay, dead, release or lost), after it
// did it, with the handler's error and duration. Give observers to the
// worker's Observe. So a span's status, a metric's outcome and a log line
// always tell the same thing, and it is what happened: an ack that Redis
// refused because the lease was lost is "lost" everywhere, not "ack".
//
// Default returns the recommended set; install it whole:
//
//	middleware.Default(middleware.DefaultConfig{Logger: logger}).Install(w)
//
// # Recommended order
//
// Default's observers, first to start (and last to finish) first:
//
//	Tracing → Metrics → Logging
//
// and its middleware, outermost first:
//
//	Timeout → [Retry] → handler
//
// Retry is there only when DefaultConfig.Retry gives it options: in-process
// retries are opt-in (see below). The order follows from what each must see:
//
//   - Tracing starts first, so every other observer, the middleware and the
//     handler run in its span's context (a log line, an exemplar, a retry
//     event can be correlated with it), and it ends the span last.
//   - Metrics and Logging observe one delivery and its final result: a
//     message that succeeds on its second in-process try counts and logs
//     once, as a success.
//   - Panics are recovered by the worker, once, around the whole chain, into
//     a *worker.PanicError with the stack where the panic happened; the
//     observers see it in the report: a failed span with the stack, a
//     failed count and an Error line with the stack. A chain needs no
//     Recover; Recover is for code that calls handlers itself.
//   - Timeout is above Retry, so its deadline bounds the whole delivery, all
//     tries and their pauses together, not each try: a flaky handler cannot
//     stretch one message to several times the timeout. Retry never starts a
//     pause that would end past the deadline.
//   - Retry is innermost, right around the handler, so that its quick tries
//     repeat only the handler's own work.
//
// # Retries: in-process and durable
//
// Retry retries quick, transient failures (a dropped connection, a busy
// database) within one delivery, a few times over fractions of a second,
// while the message stays leased. When its tries run out, the last error goes
// on to the worker, which schedules a durable retry through the broker (see
// worker.Config.RetryBackoff) or dead-letters the message. Errors that ask
// for the durable path, worker.SkipRetry and worker.RetryAfter, are never
// retried in-process.
//
// The two multiply: with k in-process tries and a durable budget of
// MaxAttempts, one message may run its handler k × MaxAttempts times (3 ×
// 25 = 75 with Retry's default of 3 tries). That is why Default adds Retry
// only when asked (DefaultConfig.Retry), and why a handler with side
// effects should use one kind or keep its work idempotent.
//
// # Observability
//
// Tracing continues the trace that the producer's Deliver started: the
// broker writes W3C trace context into the message headers, and Tracing reads
// it back, so a consumer span is the child of the producer span. Metrics
// records counters, a duration histogram and an in-flight gauge per queue,
// each outcome the one the worker acted on.
// High-cardinality values, such as facets and message IDs, go on spans and log
// lines, never on metric attributes. Both take their providers as options and
// default to OpenTelemetry's globals; the instrumentation scope is ScopeName.
package middleware
