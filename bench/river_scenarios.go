package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// River's runs of the comparison's scenarios. River is used as its
// documentation shows, with its defaults (FetchPollInterval 1 s, completed
// jobs kept for a day by the job cleaner), except the settings each
// scenario names (MaxWorkers), the log level, and FetchCooldown, set to
// its minimum (riverFetchCooldown): its default of 100 ms lets a client
// fetch at most MaxWorkers jobs per 100 ms, 500 jobs a second at
// MaxWorkers 50 (the end to end scenario measured 498), a bound of the
// setting rather than of River. Before each run river_job is emptied (TRUNCATE), as the
// Redis systems' server is by FLUSHALL.

// riverArgs are a job's arguments: the 100-byte body, and the tenant (the
// fairness scenario) or a sequence number (pickup).
type riverArgs struct {
	Body   string `json:"b"`
	Tenant string `json:"t,omitempty"`
	N      int    `json:"n,omitempty"`
}

// Kind is the job's kind, as River's JobArgs requires.
func (riverArgs) Kind() string { return "bench" }

// riverWorker runs h on each job; it never fails.
type riverWorker struct {
	river.WorkerDefaults[riverArgs]
	h func(*river.Job[riverArgs])
}

// Work runs the worker's handler, as River's Worker requires.
func (w *riverWorker) Work(_ context.Context, job *river.Job[riverArgs]) error {
	w.h(job)
	return nil
}

var riverBody = string(body100)

// riverFetchCooldown is River's FetchCooldown in the comparison: its
// minimum (the default is 100 ms).
const riverFetchCooldown = river.FetchCooldownMin

// newRiver empties river_job and returns a client on the private
// postgres: one that only inserts if h is nil, else one that works the
// default queue with maxWorkers running h.
func newRiver(ctx context.Context, e *env, maxWorkers int, h func(*river.Job[riverArgs])) (*river.Client[pgx.Tx], error) {
	if e.river == nil {
		return nil, errors.New("river is not set up")
	}
	if _, err := e.river.pool.Exec(ctx, "TRUNCATE river_job"); err != nil {
		return nil, err
	}
	cfg := &river.Config{Logger: e.log, FetchCooldown: riverFetchCooldown}
	if h != nil {
		workers := river.NewWorkers()
		river.AddWorker(workers, &riverWorker{h: h})
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}}
	}
	return river.NewClient(riverpgxv5.New(e.river.pool), cfg)
}

// riverCount counts the jobs in the given states.
func riverCount(e *env, states ...string) func(context.Context) (int64, error) {
	q := "SELECT count(*) FROM river_job WHERE state::text = ANY($1)"
	return func(ctx context.Context) (int64, error) {
		var n int64
		err := e.river.pool.QueryRow(ctx, q, states).Scan(&n)
		return n, err
	}
}

// riverUnfinishedStates are the states of a job not yet done.
var riverUnfinishedStates = []string{"available", "pending", "running", "retryable", "scheduled"}

// riverInsertAll inserts n jobs with InsertMany of batch, and returns how
// long it took.
func riverInsertAll(ctx context.Context, c *river.Client[pgx.Tx], n, batch int, args func(i int) riverArgs) (time.Duration, error) {
	start := time.Now()
	params := make([]river.InsertManyParams, 0, batch)
	for i := range n {
		params = append(params, river.InsertManyParams{Args: args(i)})
		if len(params) == batch || i == n-1 {
			if _, err := c.InsertMany(ctx, params); err != nil {
				return 0, err
			}
			params = params[:0]
		}
	}
	return time.Since(start), nil
}

// riverEnqueued is enqueued without Redis: River's usage is postgres's.
func riverEnqueued(ctx context.Context, e *env, n int, enqueue func() (time.Duration, error)) (measurement, error) {
	took, err := enqueue()
	if err != nil {
		return nil, err
	}
	queued, err := riverCount(e, "available")(ctx)
	if err != nil {
		return nil, err
	}
	if queued != int64(n) {
		return nil, fmt.Errorf("%d jobs available, want %d", queued, n)
	}
	rate := float64(n) / took.Seconds()
	e.note("%d jobs in %v: %s jobs/s", n, took.Round(time.Millisecond), human(rate))
	return measurement{"rate": {rate}}, nil
}

func riverEnqueueSingle(ctx context.Context, e *env) (measurement, error) {
	c, err := newRiver(ctx, e, 0, nil)
	if err != nil {
		return nil, err
	}
	n := e.sizes.enqueueSingle
	return riverEnqueued(ctx, e, n, func() (time.Duration, error) {
		return parallel(ctx, n, enqueueGoroutines, func(ctx context.Context, _ int) error {
			_, err := c.Insert(ctx, riverArgs{Body: riverBody}, nil)
			return err
		})
	})
}

func riverEnqueueBatch(ctx context.Context, e *env) (measurement, error) {
	c, err := newRiver(ctx, e, 0, nil)
	if err != nil {
		return nil, err
	}
	params := make([]river.InsertManyParams, enqueueBatchSize)
	for i := range params {
		params[i] = river.InsertManyParams{Args: riverArgs{Body: riverBody}}
	}
	calls := e.sizes.enqueueBatch / enqueueBatchSize
	return riverEnqueued(ctx, e, calls*enqueueBatchSize, func() (time.Duration, error) {
		return parallel(ctx, calls, enqueueBatchGoroutines, func(ctx context.Context, _ int) error {
			_, err := c.InsertMany(ctx, params)
			return err
		})
	})
}

func riverE2E(ctx context.Context, e *env) (measurement, error) {
	n := e.sizes.e2e
	var handled atomic.Int64
	done := make(chan struct{})
	c, err := newRiver(ctx, e, e2eConcurrency, func(*river.Job[riverArgs]) {
		if handled.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return nil, err
	}
	enqueue, err := riverInsertAll(ctx, c, n, e2eBatch, func(int) riverArgs { return riverArgs{Body: riverBody} })
	if err != nil {
		return nil, err
	}
	m, err := processAll(ctx, e, n, enqueue, riverCount(e, riverUnfinishedStates...), func() (func() error, error) {
		return func() error { return riverStop(c) }, c.Start(ctx)
	}, done)
	// The Redis rows are not River's: it does not use Redis.
	delete(m, "cmds")
	delete(m, "redisus")
	return m, err
}

// riverStop stops c, waiting for its jobs.
func riverStop(c *river.Client[pgx.Tx]) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Stop(ctx)
}

// riverPickup: a client of pickupConcurrency workers idles, then jobs
// come one at a time (Insert).
func riverPickup(ctx context.Context, e *env) (measurement, error) {
	starts := make(chan started, 1)
	c, err := newRiver(ctx, e, pickupConcurrency, func(j *river.Job[riverArgs]) {
		starts <- started{n: j.Args.N, at: time.Now()}
	})
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	time.Sleep(e.sizes.pickupIdle)
	lat, err := measurePickups(ctx, e.sizes.pickupAsynq, starts, func(i int) error {
		_, err := c.Insert(ctx, riverArgs{Body: riverBody, N: i}, nil)
		return err
	})
	if stopErr := riverStop(c); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	m := measurement{"lat": make([]float64, len(lat))}
	for i, d := range lat {
		m["lat"][i] = ms(d)
	}
	s := slices.Sorted(slices.Values(m["lat"]))
	e.note("%d pickups: p50 %s ms, p99 %s ms, max %s ms", len(s), human(percentile(s, 0.5)), human(percentile(s, 0.99)), human(s[len(s)-1]))
	return m, nil
}

// riverFairness: the big tenant's jobs, then the small tenants', on the
// default queue (River orders by priority, then by time: first in, first
// out here).
func riverFairness(ctx context.Context, e *env) (measurement, error) {
	s := e.sizes
	p := newPositions(s)
	c, err := newRiver(ctx, e, fairConcurrency, func(j *river.Job[riverArgs]) {
		p.finished(j.Args.Tenant != fairBigTenant)
	})
	if err != nil {
		return nil, err
	}
	if _, err := riverInsertAll(ctx, c, s.fairBig, e2eBatch, func(int) riverArgs {
		return riverArgs{Body: riverBody, Tenant: fairBigTenant}
	}); err != nil {
		return nil, err
	}
	for t := range s.fairTenants {
		if _, err := riverInsertAll(ctx, c, s.fairEach, s.fairEach, func(int) riverArgs {
			return riverArgs{Body: riverBody, Tenant: smallTenant(t)}
		}); err != nil {
			return nil, err
		}
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	err = p.wait(ctx)
	if stopErr := riverStop(c); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}
	return p.measurement(e)
}

// riverMemory: the growth of river_job's size on disk, indexes and TOAST
// included (pg_total_relation_size), over the jobs inserted.
func riverMemory(ctx context.Context, e *env) (measurement, error) {
	c, err := newRiver(ctx, e, 0, nil)
	if err != nil {
		return nil, err
	}
	size := func() (int64, error) {
		var n int64
		err := e.river.pool.QueryRow(ctx, "SELECT pg_total_relation_size('river_job')").Scan(&n)
		return n, err
	}
	before, err := size()
	if err != nil {
		return nil, err
	}
	n := e.sizes.memory
	if _, err := riverInsertAll(ctx, c, n, e2eBatch, func(int) riverArgs { return riverArgs{Body: riverBody} }); err != nil {
		return nil, err
	}
	after, err := size()
	if err != nil {
		return nil, err
	}
	var parts []string
	rows, err := e.river.pool.Query(ctx, `SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c
		WHERE c.relname = 'river_job' OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'river_job'::regclass) ORDER BY 2 DESC`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name string
		var bytes int64
		if err := rows.Scan(&name, &bytes); err != nil {
			rows.Close()
			return nil, err
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", name, float64(bytes)/float64(n)))
	}
	rows.Close()
	per := float64(after-before) / float64(n)
	e.note("pg_total_relation_size(river_job) %d → %d bytes for %d jobs: %.1f bytes each; per job by relation: %s",
		before, after, n, per, strings.Join(parts, ", "))
	return measurement{"bytes": {per}}, nil
}
