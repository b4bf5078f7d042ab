package limitbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

const (
	namespace  = "limitbench"
	queueName  = "limits"
	topic      = "limits.job"
	floodFacet = "flood"
	// stopTimeout bounds a worker's graceful exit at the end.
	stopTimeout = 30 * time.Second
	// holdTimeout bounds how long the process to kill may take to hold all
	// its handlers.
	holdTimeout = 30 * time.Second
)

func smallFacet(i int) string { return fmt.Sprintf("f-%02d", i) }

// run is one run under way.
type run struct {
	cfg   Config
	rdb   *redis.Client
	keys  keys
	argv  []string
	env   []string
	dir   string
	procs []*proc
	n     int // worker processes started
}

// Run makes one run: it starts its own redis-server and the worker
// processes, and returns what the records show. An error means the run
// could not be made; a check that failed is in Result.Failures.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	argv, err := workerCommand(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := testutil.StartServer()
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Close() }()
	rdb := srv.Client()
	defer func() { _ = rdb.Close() }()
	if err := setUp(ctx, rdb, cfg); err != nil {
		return nil, err
	}
	dir, err := logDir(cfg)
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(workerSpec{
		Addr: srv.Addr(), Namespace: namespace, Queue: queueName, Concurrency: cfg.Concurrency,
		Lease: cfg.Lease, WorkMin: cfg.WorkMin, WorkMax: cfg.WorkMax,
	})
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, rdb: rdb, keys: keysOf(namespace), argv: argv, env: []string{WorkerEnv + "=" + string(spec)}, dir: dir}
	res := &Result{Config: cfg}
	err = r.drive(ctx, res)
	for _, p := range r.procs {
		if !p.exited() {
			p.kill()
		}
	}
	if err == nil {
		err = r.read(ctx, res)
	}
	if err != nil || !res.OK() || cfg.Dir != "" {
		res.LogDir = dir
	} else {
		_ = os.RemoveAll(dir)
	}
	if err != nil {
		return res, fmt.Errorf("%w (workers' logs: %s)", err, dir)
	}
	return res, nil
}

func workerCommand(cfg Config) ([]string, error) {
	if cfg.WorkerCommand != nil {
		return cfg.WorkerCommand()
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("limitbench: find this program to run it as a worker: %w", err)
	}
	return []string{self}, nil
}

func logDir(cfg Config) (string, error) {
	if cfg.Dir != "" {
		return cfg.Dir, os.MkdirAll(cfg.Dir, 0o750)
	}
	return os.MkdirTemp("", "limitbench-")
}

// setUp registers the queue, sets its limits and delivers the backlog: the
// small facets' messages in turn, then the flood's.
func setUp(ctx context.Context, rdb *redis.Client, cfg Config) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(rdb, broker.Config{Namespace: namespace, LeaseDuration: cfg.Lease, Logger: quiet})
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { return b.RegisterQueue(ctx, queueName, `^limits\.`) },
		func() error { return b.SetQueueRateLimit(ctx, queueName, cfg.QueueRate) },
		func() error { return b.SetRateLimit(ctx, queueName, cfg.FacetRate) },
		func() error { return b.SetGlobalConcurrency(ctx, queueName, cfg.Cap) },
		func() error { return b.SetFacetPriority(ctx, queueName, floodFacet, cfg.FloodPriority) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("limitbench: set up the queue: %w", err)
		}
	}
	var ds []broker.Delivery
	for range cfg.PerFacet {
		for i := range cfg.Facets {
			ds = append(ds, broker.Delivery{Topic: topic, Facet: smallFacet(i), Body: []byte("x")})
		}
	}
	for range cfg.FloodMessages {
		ds = append(ds, broker.Delivery{Topic: topic, Facet: floodFacet, Body: []byte("x")})
	}
	for chunk := range slices.Chunk(ds, 1000) {
		if err := b.DeliverBatch(ctx, chunk); err != nil {
			return fmt.Errorf("limitbench: deliver the backlog: %w", err)
		}
	}
	return nil
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		r.cfg.Log(format, args...)
	}
}

func (r *run) start() error {
	p, err := startProc(r.argv, r.env, r.dir, r.n)
	if err != nil {
		return err
	}
	r.n++
	r.procs = append(r.procs, p)
	return nil
}

// drive runs the workers for the run's duration, with the kill halfway,
// then stops them.
func (r *run) drive(ctx context.Context, res *Result) error {
	begin := time.Now()
	for range r.cfg.Workers {
		if err := r.start(); err != nil {
			return err
		}
	}
	r.logf("%d workers started; running %v", r.cfg.Workers, r.cfg.Duration)
	if r.cfg.Kill {
		if err := sleepUntil(ctx, begin.Add(r.cfg.Duration/2)); err != nil {
			return err
		}
		k, err := r.killOne(ctx)
		if err != nil {
			return err
		}
		res.Kill = k
		r.logf("worker %d killed holding %d leases; another started", k.Pid, k.Leases)
	}
	if err := sleepUntil(ctx, begin.Add(r.cfg.Duration)); err != nil {
		return err
	}
	r.logf("stopping the workers")
	return r.stopAll()
}

func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopAll stops every worker not killed, all at once.
func (r *run) stopAll() error {
	errs := make(chan error, len(r.procs))
	live := 0
	for _, p := range r.procs {
		if p.killed {
			continue
		}
		live++
		go func() { errs <- p.stop(stopTimeout) }()
	}
	var all []error
	for range live {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// killOne makes the first worker hold all its handlers, SIGKILLs it, records
// when the leases it held end, and starts another worker in its place.
func (r *run) killOne(ctx context.Context) (*KillReport, error) {
	victim := r.procs[0]
	pid := strconv.Itoa(victim.pid())
	asked := time.Now()
	if err := r.rdb.Set(ctx, r.keys.arm, pid, 0).Err(); err != nil {
		return nil, err
	}
	for {
		n, err := r.rdb.Get(ctx, r.keys.held).Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		if n >= r.cfg.Concurrency {
			break
		}
		if victim.exited() {
			return nil, fmt.Errorf("limitbench: worker %s exited before it was killed (%s); see %s", pid, victim.status(), victim.log)
		}
		if time.Since(asked) > holdTimeout {
			return nil, fmt.Errorf("limitbench: worker %s held %d of its %d handlers after %v", pid, n, r.cfg.Concurrency, holdTimeout)
		}
		if err := sleepUntil(ctx, time.Now().Add(5*time.Millisecond)); err != nil {
			return nil, err
		}
	}
	k := &KillReport{Hold: time.Since(asked)}
	killedAt, err := r.rdb.Time(ctx).Result()
	if err != nil {
		return nil, err
	}
	victim.kill()
	leased := namespace + ":{" + queueName + "}:" + keylayout.Leased
	ends, err := deadScript.Run(ctx, r.rdb, []string{r.keys.running, r.keys.dead, leased}, pid).StringSlice()
	if err != nil {
		return nil, err
	}
	if err := r.rdb.Del(ctx, r.keys.arm).Err(); err != nil {
		return nil, err
	}
	k.Pid, k.killedAt, k.ends = victim.pid(), killedAt.UnixMilli(), make(map[string]int64)
	for i := 0; i+1 < len(ends); i += 2 {
		ms, err := strconv.ParseInt(ends[i+1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("limitbench: lease deadline %q: %w", ends[i+1], err)
		}
		if ms > 0 {
			k.ends[ends[i]] = ms
		}
	}
	k.Leases = len(k.ends)
	return k, r.start()
}

// read reads the records and the queue's state, and checks them.
func (r *run) read(ctx context.Context, res *Result) error {
	raw, err := r.rdb.LRange(ctx, r.keys.records, 0, -1).Result()
	if err != nil {
		return err
	}
	recs := make([]record, 0, len(raw))
	for _, s := range raw {
		rec, err := parseRecord(s)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	analyze(r.cfg, recs, res)
	if k := res.Kill; k != nil {
		k.At = time.Duration(k.killedAt-res.First) * time.Millisecond
		checkRepulls(recs, k, res)
	}
	if err := testutil.CheckQueue(ctx, r.rdb, namespace, queueName); err != nil {
		res.Invariants = err.Error()
		res.fail("queue invariants: %v", err)
	}
	return nil
}

// checkRepulls checks that each message the killed process held was
// pulled again only once its lease had ended (a pull reclaims a lease whose
// deadline is not after its now), and reports when.
func checkRepulls(recs []record, k *KillReport, res *Result) {
	var firstEnd, lastEnd int64
	for _, end := range k.ends {
		if firstEnd == 0 || end < firstEnd {
			firstEnd = end
		}
		lastEnd = max(lastEnd, end)
	}
	k.FirstEnd = time.Duration(firstEnd-k.killedAt) * time.Millisecond
	k.LastEnd = time.Duration(lastEnd-k.killedAt) * time.Millisecond
	for _, r := range recs { // sorted by pull time
		end, ok := k.ends[r.id+"|"+strconv.Itoa(r.attempt-1)]
		if !ok {
			continue
		}
		if k.Repulled == 0 {
			k.FirstRepull = time.Duration(r.pulled-k.killedAt) * time.Millisecond
		}
		k.Repulled++
		if r.pulled < end {
			res.earlyRepull = true
			res.fail("(g) message %s, leased by the killed worker until %s, was pulled again at %s", r.id, res.at(end), res.at(r.pulled))
		}
	}
}
