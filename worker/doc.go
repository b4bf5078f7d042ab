// Package worker runs Go handlers on messages from Fairway's broker: a
// bounded pool of goroutines, fed by a fetcher that pulls batches sized to
// the free slots, fairly across facets (the broker's round-robin) and across
// queues (by weight, or in strict order).
//
//	w := worker.New(b, worker.Config{Concurrency: 50})
//	middleware.Default(middleware.DefaultConfig{}).Install(w) // tracing, metrics, logs
//	w.HandleFunc("emails", func(ctx context.Context, m *broker.Message) error {
//		return send(ctx, m.Body)
//	})
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	err := w.Run(ctx)
//
// A handler's result decides what happens to its message: nil acks it (acks
// are batched); an error retries it after Config.RetryBackoff, durably in
// Redis, until the message has had its budget of deliveries
// (broker.Message.MaxAttempts, fixed when it was queued: see
// broker.WithMaxAttempts), then it becomes a dead letter. A lease that
// expires counts against the same budget. SkipRetry dead-letters at once;
// RetryAfter chooses the delay. A panic is recovered, once, by the worker,
// into a *PanicError and treated as an error.
//
// Middleware (Use) wraps handlers; observers (Observe) watch them: each
// Observer's Start runs before the handler and may derive its context (a
// span), and its Finish hears once, in a Report, what the worker did with
// the message (ack, retry with its delay, dead, release or lost), after it
// did it, with the handler's error and duration.
//
// While a handler runs, the worker extends its lease; if the lease is lost
// the handler's context ends with cause ErrLeaseLost. An idle worker waits on
// the queues' wake channels (Redis pub/sub) and polls once per
// Config.PollInterval, so a new message starts within milliseconds while an
// idle process sends about one command per second per queue. It also wakes
// when a retry it scheduled falls due, so a short RetryBackoff is kept
// however long the poll interval is.
//
// When Run's context ends the worker stops fetching, lets running handlers
// finish within Config.ShutdownTimeout, then cancels the rest (cause
// ErrShutdown) and hands their messages back without counting the attempt.
// A crash loses nothing either: leases expire and the messages come back.
//
// The worker's services (the fetcher, the acker, the lease keeper, the
// history flusher) run under one supervisor, each restarted with backoff if
// it panics. They stop in dependency order: the fetcher first, so no new
// work starts; the handlers drain (their nacks and releases sent as they
// return); the acker flushes the last acks; then the lease keeper, which
// owns the lease deadlines the acks retry against; the history last, so its
// final write counts every outcome.
// Redis outages are retried with backoff and reported by Ready and
// HealthHandler.
//
// Config.Routes gives served queues their topic patterns: Start registers
// them (never changing a queue registered with another pattern), and the
// worker registers them again if Redis loses them. A served queue without a
// route must exist: Start fails with ErrQueueMissing otherwise, and Ready
// names a queue that goes missing later.
package worker
