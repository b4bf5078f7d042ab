// Package middleware holds handler wrappers for the Fairway worker: panic
// recovery, in-process retries, timeouts, structured logging with log/slog,
// and OpenTelemetry tracing and metrics.
//
// Each one is a worker.Middleware, a func(worker.Handler) worker.Handler, in
// the style of net/http middleware. Pass them to the worker's Use; the first
// one given is the outermost, the first to see a message and the last to see
// its result:
//
//	w.Use(middleware.Default(middleware.DefaultConfig{Logger: logger})...)
//
// # Recommended order
//
// Default returns the recommended chain, outermost first:
//
//	Tracing → Metrics → Logging → Recover → Timeout → [Retry] → handler
//
// Retry is there only when DefaultConfig.Retry gives it options: in-process
// retries are opt-in (see below).
// The order follows from what each layer must see:
//
//   - Tracing is outermost, so its span covers all the work done for the
//     message, and every layer below (a log line, an exemplar, a retry event)
//     runs inside the span's context and can be correlated with it.
//   - Metrics and Logging observe one delivery and its final result: they
//     sit outside Retry, so a message that succeeds on its second in-process
//     try counts and logs once, as a success. Either may come first.
//   - Recover sits below the observers and above everything else, so that a
//     panic (in the handler, in a Retry predicate, anywhere below) reaches
//     Tracing, Metrics and Logging as a *worker.PanicError: a failed span, a
//     failed count and a log line with the stack. Tracing, Metrics and Logging
//     also record a panic that reaches them directly and then re-panic, so a
//     chain in another order loses nothing, but its panics escape to the
//     worker's last-resort recovery.
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
// records counters, a duration histogram and an in-flight gauge per queue.
// High-cardinality values, such as facets and message IDs, go on spans and log
// lines, never on metric attributes. Both take their providers as options and
// default to OpenTelemetry's globals; the instrumentation scope is ScopeName.
package middleware
