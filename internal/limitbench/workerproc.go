package limitbench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// WorkerEnv is the environment variable that makes a program a worker
// process of a run (see WorkerMain); it holds the run's settings for it.
const WorkerEnv = "FAIRWAY_LIMITBENCH_WORKER"

// workerSpec is what a worker process is told, as JSON in WorkerEnv.
type workerSpec struct {
	Addr, Namespace, Queue  string
	Concurrency             int
	Lease, WorkMin, WorkMax time.Duration
}

// IsWorker reports whether this process was started as a worker process.
func IsWorker() bool { return os.Getenv(WorkerEnv) != "" }

// WorkerMain is the body of a worker process: it serves the run's queue
// until ctx ends (SIGTERM in the program), then shuts down gracefully.
// A handler that cannot write its record ends the process with status 3:
// a pull left off the record would make the checks wrong.
func WorkerMain(ctx context.Context) error {
	var s workerSpec
	if err := json.Unmarshal([]byte(os.Getenv(WorkerEnv)), &s); err != nil {
		return fmt.Errorf("limitbench: %s: %w", WorkerEnv, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer func() { _ = rdb.Close() }()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(rdb, broker.Config{Namespace: s.Namespace, LeaseDuration: s.Lease, Logger: log})
	if err != nil {
		return err
	}
	w := worker.New(b, worker.Config{Concurrency: s.Concurrency, LeaseDuration: s.Lease, ShutdownTimeout: 10 * time.Second, Logger: log})
	h := &handler{rdb: rdb, spec: s, keys: keysOf(s.Namespace), pid: strconv.Itoa(os.Getpid()), log: log}
	w.HandleFunc(s.Queue, h.handle)
	return w.Run(ctx)
}

// handler records each pull and works for a while.
type handler struct {
	rdb  *redis.Client
	spec workerSpec
	keys keys
	pid  string
	log  *slog.Logger
}

func (h *handler) handle(ctx context.Context, m *broker.Message) error {
	// The worker pulls with its own lease, so the deadline is exactly the
	// pull script's now plus it.
	pulled := m.LeaseDeadline.UnixMilli() - h.spec.Lease.Milliseconds()
	me := h.pid + "|" + m.ID + "|" + strconv.Itoa(m.Attempt)
	rec := recordStart(pulled, m.Facet, m.Attempt, m.ID, h.pid)
	if err := enterScript.Run(ctx, h.rdb, []string{h.keys.running, h.keys.dead, h.keys.records}, me, rec).Err(); err != nil {
		h.fatal(err)
	}
	work := h.spec.WorkMin + rand.N(h.spec.WorkMax-h.spec.WorkMin+time.Millisecond) //nolint:gosec // a work time, not a secret
	t := time.NewTimer(work)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	held, err := leaveScript.Run(context.WithoutCancel(ctx), h.rdb, []string{h.keys.running, h.keys.arm, h.keys.held}, me, h.pid).Int()
	if err != nil {
		h.fatal(err)
	}
	if held > 0 {
		// This process is to be killed holding its handlers: hold this one
		// until then.
		<-ctx.Done()
		return context.Cause(ctx)
	}
	return nil
}

func (h *handler) fatal(err error) {
	h.log.Error("limitbench: handler record failed; exiting", "err", err)
	os.Exit(3)
}
