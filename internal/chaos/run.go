package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

const (
	namespace = "chaos"
	queueName = "jobs"
	// recordKey is the hash where the workers count each message they
	// handle (FAIRWAY_RECORD_KEY).
	recordKey = namespace + ":handled"
)

// run is one chaos run in progress.
type run struct {
	cfg  Config
	srv  *testutil.Server
	rdb  *redis.Client
	b    *broker.Broker
	bin  string
	dir  string
	rng  *rand.Rand
	log  io.Writer
	res  *Result
	next int // id of the next worker process
	// proxy loses replies (Config.ReplyLoss) between Redis and the keyless
	// producer and every other worker; lossy is the keyless producer's
	// broker on it.
	proxy *testutil.Proxy
	lossy *broker.Broker
	lrdb  *redis.Client

	workers []*proc
}

// Run makes a chaos run and returns its result; the error is for a run that
// could not be made (no redis-server, a build failure), not for a check
// that failed, which Result.Failures lists.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := &run{cfg: cfg, log: cfg.Log, dir: cfg.Dir, bin: cfg.WorkerBin}
	if r.log == nil {
		r.log = io.Discard
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	r.rng = newRand(cfg.Seed)
	r.res = &Result{Config: cfg}
	r.logf("seed %d (-seed to repeat the kills' choice and timing)", cfg.Seed)
	if err := r.setUp(ctx); err != nil {
		return nil, errors.Join(err, r.tearDown())
	}
	start := time.Now()
	r.chaos(ctx)
	r.res.Elapsed = time.Since(start)
	r.check(ctx)
	if err := r.tearDown(); err != nil {
		return r.res, err
	}
	if r.res.OK() && cfg.Dir == "" {
		_ = os.RemoveAll(r.dir)
	} else {
		r.res.LogDir = r.dir
	}
	return r.res, nil
}

// newRand returns the generator of the kills' choice and timing.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed>>1|1)) //nolint:gosec // chooses kills, not secrets
}

func (r *run) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(r.log, "chaos: %s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// setUp builds the worker, starts redis-server with an append-only file
// synced on every write, and registers the queue.
func (r *run) setUp(ctx context.Context) error {
	if r.dir == "" {
		dir, err := os.MkdirTemp("", "fairway-chaos-")
		if err != nil {
			return err
		}
		r.dir = dir
	}
	if r.bin == "" {
		r.logf("building examples/worker")
		bin, err := BuildWorker(ctx, r.dir)
		if err != nil {
			return err
		}
		r.bin = bin
	}
	srv, err := testutil.StartServer("--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	r.srv = srv
	r.logf("redis-server on %s, append-only file in %s", srv.Addr(), srv.Dir())
	r.rdb = redis.NewClient(&redis.Options{
		Addr: srv.Addr(), DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if r.b, err = broker.New(r.rdb, broker.Config{Namespace: namespace, LeaseDuration: r.cfg.Lease, Logger: quiet}); err != nil {
		return err
	}
	if r.proxy, err = testutil.StartProxy(srv.Addr()); err != nil {
		return err
	}
	r.proxy.SetMatch(testutil.MatchCommands("EVALSHA", "EVAL"))
	r.proxy.SetDropRate(r.cfg.ReplyLoss, r.cfg.Seed)
	// A read timeout shorter than a restart, so lost replies are retried.
	r.lrdb = redis.NewClient(&redis.Options{
		Addr: r.proxy.Addr(), DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: time.Second,
	})
	if r.lossy, err = broker.New(r.lrdb, broker.Config{Namespace: namespace, LeaseDuration: r.cfg.Lease, Logger: quiet}); err != nil {
		return err
	}
	r.logf("proxy on %s loses %.1f%% of script replies", r.proxy.Addr(), 100*r.cfg.ReplyLoss)
	return r.b.RegisterQueue(ctx, queueName, `^jobs(\.|$)`)
}

func (r *run) tearDown() error {
	for _, p := range r.workers {
		if p.running() {
			p.kill()
		}
	}
	var errs []error
	if r.lrdb != nil {
		errs = append(errs, r.lrdb.Close())
	}
	if r.proxy != nil {
		errs = append(errs, r.proxy.Close())
	}
	if r.rdb != nil {
		errs = append(errs, r.rdb.Close())
	}
	if r.srv != nil {
		errs = append(errs, r.srv.Close())
	}
	return errors.Join(errs...)
}

// startWorker starts one more worker process.
func (r *run) startWorker() error {
	r.next++
	addr := r.srv.Addr()
	if r.next%2 == 0 {
		addr = r.proxy.Addr() // every other worker loses replies
	}
	env := append(os.Environ(),
		"REDIS_URL=redis://"+addr+"/0",
		"FAIRWAY_NAMESPACE="+namespace,
		"FAIRWAY_QUEUES="+queueName,
		"FAIRWAY_RECORD_KEY="+recordKey,
		"FAIRWAY_HEALTH_ADDR=off",
		"FAIRWAY_LOG_LEVEL=warn",
		"FAIRWAY_CONCURRENCY="+strconv.Itoa(r.cfg.Concurrency),
		"FAIRWAY_LEASE="+r.cfg.Lease.String(),
		"FAIRWAY_WORK_TIME="+r.cfg.WorkTime.String(),
		"FAIRWAY_SHUTDOWN_TIMEOUT=10s",
	)
	p, err := startWorker(r.bin, r.dir, r.next, env)
	if err != nil {
		return err
	}
	r.workers = append(r.workers, p)
	return nil
}

// running is the worker processes still running.
func (r *run) running() []*proc {
	return slices.DeleteFunc(slices.Clone(r.workers), func(p *proc) bool { return !p.running() })
}

// leased is how many messages the queue holds leased, read again until
// Redis answers.
func (r *run) leased(ctx context.Context) int64 {
	for {
		st, err := r.b.Stats(ctx, queueName)
		if err == nil || ctx.Err() != nil {
			return st.InFlight
		}
		_ = sleepUntil(ctx, time.Now().Add(20*time.Millisecond))
	}
}
