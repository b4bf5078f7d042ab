// Command worker is a Fairway worker ready to deploy: configured by flags
// and environment variables, logging JSON to stderr, serving /healthz and
// /readyz, and shutting down gracefully on SIGTERM or SIGINT.
//
// Its handler is a demo that sleeps for FAIRWAY_WORK_TIME; replace it with
// your own. Run it with -h for every setting. For example:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 FAIRWAY_QUEUES=emails=2,reports=1 \
//	  FAIRWAY_ROUTES='emails=^email\.;reports=^report\.' go run ./examples/worker
//
// It registers a queue only when told its pattern (FAIRWAY_ROUTES, or a
// FAIRWAY_PATTERN given) or when the queue does not exist, and never changes
// an existing queue's pattern: see README.md, "What it registers".
//
// On SIGTERM it stops fetching, lets running handlers finish within
// FAIRWAY_SHUTDOWN_TIMEOUT, hands back the messages of those that did not,
// and exits 0; a second signal ends it at once. It exits 1 on an error. See
// examples/deploy for a systemd unit and a Kubernetes manifest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// After the first signal, the next one ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("fairway worker failed", "err", err)
		os.Exit(1)
	}
}

// run runs the worker until ctx ends, then shuts it down gracefully. It
// returns nil after a clean shutdown.
func run(ctx context.Context, args []string, env func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, env, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	redis.SetLogger(redisLogger{log}) // so that every line is JSON
	rdb := redis.NewClient(cfg.redis)
	defer func() { _ = rdb.Close() }()
	b, err := broker.New(rdb, broker.Config{Namespace: cfg.namespace, LeaseDuration: cfg.lease, Logger: log})
	if err != nil {
		return err
	}
	w := worker.New(b, worker.Config{
		Concurrency: cfg.concurrency, Queues: cfg.queues, Routes: cfg.toldRoutes(),
		ShutdownTimeout: cfg.shutdownTimeout, Logger: log,
	})
	// The recommended observers: tracing and metrics (OpenTelemetry's
	// global providers, no-ops until a program installs real ones) and a
	// log line per message, each told what the worker did. The worker
	// recovers panics itself. Retries are the worker's durable ones only
	// (no in-process Retry), so a message runs at most MaxAttempts times.
	middleware.Default(middleware.DefaultConfig{Logger: log}).Install(w)
	h := &demo{workTime: cfg.workTime, rdb: rdb, recordKey: cfg.recordKey}
	for q := range cfg.queues {
		w.Handle(q, h)
	}
	return serve(ctx, cfg, b, w, log)
}

// serve runs the health endpoint and the worker, and stops them in that
// order reversed: the endpoint reports "draining" until the worker is done.
func serve(ctx context.Context, cfg config, b *broker.Broker, w *worker.Worker, log *slog.Logger) error {
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	hs, err := startHealth(cfg.healthAddr, w.HealthHandler(), log, fail)
	if err != nil {
		return err
	}
	defer hs.shutdown()
	if err := registerQueues(ctx, b, cfg, log); err != nil || ctx.Err() != nil {
		return errors.Join(err, failure(ctx))
	}
	log.Info("fairway worker running", "namespace", b.Namespace(), "redis", cfg.redis.Addr,
		"queues", cfg.queues, "concurrency", cfg.concurrency, "shutdown_timeout", cfg.shutdownTimeout.String())
	err = w.Run(ctx)
	log.Info("fairway worker stopped")
	return errors.Join(err, failure(ctx))
}

// failure is why ctx ended, unless it ended because of a signal.
func failure(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// registerQueues registers the queues it was told a pattern for (-routes,
// or -pattern given), and, with -pattern left at its default, each queue
// that does not exist yet; it never changes an existing queue's pattern: a
// queue registered with another pattern is an error naming both. It
// retries while Redis does not answer: a worker that starts before Redis
// waits for it, not ready meanwhile, rather than crash.
func registerQueues(ctx context.Context, b *broker.Broker, cfg config, log *slog.Logger) error {
	for _, q := range slices.Sorted(maps.Keys(cfg.queues)) {
		_, routed := cfg.routes[q]
		if !routed && cfg.pattern == noRegister {
			continue
		}
		told := routed || cfg.patternSet
		pattern, err := cfg.patternOf(q)
		if err != nil {
			return err
		}
		if err := registerQueue(ctx, b, q, pattern, told, log); err != nil || ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// registerQueue registers queue with pattern; unless told, only when the
// queue does not exist. It retries while Redis does not answer.
func registerQueue(ctx context.Context, b *broker.Broker, q, pattern string, told bool, log *slog.Logger) error {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		registered, err := tryRegister(ctx, b, q, pattern, told)
		switch {
		case err == nil && registered:
			log.Info("queue registered", "queue", q, "pattern", pattern)
			return nil
		case err == nil:
			log.Info("queue exists; serving it as it is (set -routes or -pattern to register it)", "queue", q)
			return nil
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, broker.ErrPatternConflict), errors.Is(err, broker.ErrInvalidPattern):
			return fmt.Errorf("register queue %q: %w", q, err)
		}
		log.Warn("cannot register queue; retrying", "queue", q, "err", err, "retry_in", delay.String())
		if !sleep(ctx, delay) {
			return nil
		}
	}
}

func tryRegister(ctx context.Context, b *broker.Broker, q, pattern string, told bool) (bool, error) {
	if !told {
		exists, err := b.QueueExists(ctx, q)
		if err != nil || exists {
			return false, err
		}
	}
	return true, b.RegisterQueue(ctx, q, pattern)
}

// redisLogger writes go-redis's own log lines, about connection trouble, as
// warnings.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// sleep waits for d; it returns false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
