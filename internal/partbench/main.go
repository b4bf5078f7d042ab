// Command partbench measures what partitioning a queue gains on a Redis
// Cluster: it starts a real 3-master cluster on loopback (as the tests do,
// from redis-server and redis-cli), and for each partition count runs the
// same end-to-end workload on one queue: deliver N messages over many
// facets, then process them all with a worker pool of no-op handlers. Counts
// alternate over several rounds; the table shows medians and the ratio to
// the first count, measured in the same run (make bench-partitions).
//
//	go run ./internal/partbench [-n 100000] [-facets 1000] [-rounds 3] [-partitions 1,3] [-concurrency 50]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "partbench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	n, facets, rounds, concurrency int
	counts                         []int
	cpuProfile                     string
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("partbench", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.n, "n", 100_000, "messages per run")
	fs.IntVar(&o.facets, "facets", 1000, "facets the messages are spread over")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; figures are their medians")
	fs.IntVar(&o.concurrency, "concurrency", 50, "the worker pool's Concurrency")
	counts := fs.String("partitions", "1,3", "comma-separated partition counts; ratios are to the first")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*counts, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 || k > broker.MaxPartitions {
			return o, fmt.Errorf("-partitions: bad count %q", s)
		}
		o.counts = append(o.counts, k)
	}
	if o.n < 1 || o.facets < 1 || o.rounds < 1 || o.concurrency < 1 {
		return o, fmt.Errorf("-n, -facets, -rounds and -concurrency must be positive")
	}
	return o, nil
}

// result is one run's figures.
type result struct {
	enqueue, e2e float64 // msgs/s
	busiest      float64 // the busiest master's share of the masters' CPU time
	redisCPU     float64 // the masters' CPU time per message while processing, µs
	clientCPU    float64 // this process's CPU time per message while processing, µs
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	c, err := testutil.StartCluster(testutil.ClusterOptions{Masters: 3})
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 4 * o.concurrency})
	defer func() { _ = rdb.Close() }()
	results := make(map[int][]result)
	for round := range o.rounds {
		for _, k := range o.counts {
			r, err := runOnce(ctx, rdb, c, o, k, fmt.Sprintf("pb%d-%d", round, k))
			if err != nil {
				return fmt.Errorf("round %d, %d partitions: %w", round+1, k, err)
			}
			fmt.Fprintf(os.Stderr, "round %d, %d partition(s): enqueue %.0f msgs/s, end to end %.0f msgs/s, busiest master %.0f%% of Redis CPU, Redis %.1f µs/msg, client %.1f µs/msg\n",
				round+1, k, r.enqueue, r.e2e, 100*r.busiest, r.redisCPU, r.clientCPU)
			results[k] = append(results[k], r)
		}
	}
	return printTable(out, o, results)
}

// runOnce delivers o.n messages to a queue of k partitions under namespace
// ns, processes them all, and deletes the queue.
func runOnce(ctx context.Context, rdb *redis.ClusterClient, c *testutil.Cluster, o options, k int, ns string) (result, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(rdb, broker.Config{Namespace: ns, Logger: log})
	if err != nil {
		return result{}, err
	}
	if err := b.RegisterQueue(ctx, "q", ".", broker.WithPartitions(k)); err != nil {
		return result{}, err
	}
	defer func() { _ = b.DestroyQueue(context.Background(), "q") }()
	start := time.Now()
	const batch = 1000
	for sent := 0; sent < o.n; sent += batch {
		ds := make([]broker.Delivery, 0, batch)
		for i := sent; i < min(sent+batch, o.n); i++ {
			ds = append(ds, broker.Delivery{Topic: "t", Facet: "tenant-" + strconv.Itoa(i%o.facets), Body: make([]byte, 100)})
		}
		if err := b.DeliverBatch(ctx, ds); err != nil {
			return result{}, err
		}
	}
	enqueue := time.Since(start)
	var done atomic.Int64
	finished := make(chan struct{})
	w := worker.New(b, worker.Config{Concurrency: o.concurrency, Logger: log})
	w.HandleFunc("q", func(context.Context, *broker.Message) error {
		if done.Add(1) == int64(o.n) {
			close(finished)
		}
		return nil
	})
	cpu0, err := mastersCPU(ctx, c)
	if err != nil {
		return result{}, err
	}
	self0 := processCPU()
	start = time.Now()
	if err := w.Start(ctx); err != nil {
		return result{}, err
	}
	select {
	case <-finished:
	case <-ctx.Done():
	case <-time.After(10 * time.Minute):
		return result{}, fmt.Errorf("only %d of %d processed in 10 minutes", done.Load(), o.n)
	}
	elapsed := time.Since(start)
	self := processCPU() - self0
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Stop(stopCtx); err != nil {
		return result{}, err
	}
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	cpu1, err := mastersCPU(ctx, c)
	if err != nil {
		return result{}, err
	}
	var total, busiest float64
	for addr, t := range cpu1 {
		d := t - cpu0[addr]
		total += d
		busiest = max(busiest, d)
	}
	r := result{enqueue: float64(o.n) / enqueue.Seconds(), e2e: float64(o.n) / elapsed.Seconds(),
		redisCPU: total * 1e6 / float64(o.n), clientCPU: self.Seconds() * 1e6 / float64(o.n)}
	if total > 0 {
		r.busiest = busiest / total
	}
	return r, nil
}

// processCPU is the CPU time this process used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mastersCPU reads each master's CPU time so far (user + system, seconds).
func mastersCPU(ctx context.Context, c *testutil.Cluster) (map[string]float64, error) {
	masters, err := c.Masters(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(masters))
	for _, addr := range masters {
		cl := redis.NewClient(&redis.Options{Addr: addr})
		info, err := cl.Info(ctx, "cpu").Result()
		_ = cl.Close()
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(info, "\r\n") {
			name, v, ok := strings.Cut(line, ":")
			if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
				f, _ := strconv.ParseFloat(v, 64)
				out[addr] += f
			}
		}
	}
	return out, nil
}

func median(rs []result, f func(result) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func printTable(out io.Writer, o options, results map[int][]result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nOne queue on a 3-master Redis Cluster (loopback, one machine): %d messages of 100 bytes over %d facets,\n", o.n, o.facets)
	fmt.Fprintf(&b, "delivered in batches of 1000, then processed by one worker pool (Concurrency %d, no-op handlers). Medians of %d rounds.\n\n", o.concurrency, o.rounds)
	b.WriteString("| partitions | enqueue msgs/s | end-to-end msgs/s | end to end vs first row | busiest master's share of Redis CPU | Redis CPU µs/msg | client CPU µs/msg |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|\n")
	base := median(results[o.counts[0]], func(r result) float64 { return r.e2e })
	for _, k := range o.counts {
		rs := results[k]
		e2e := median(rs, func(r result) float64 { return r.e2e })
		fmt.Fprintf(&b, "| %d | %.0f | %.0f | %.2f× | %.0f%% | %.1f | %.1f |\n", k,
			median(rs, func(r result) float64 { return r.enqueue }), e2e, e2e/base,
			100*median(rs, func(r result) float64 { return r.busiest }),
			median(rs, func(r result) float64 { return r.redisCPU }),
			median(rs, func(r result) float64 { return r.clientCPU }))
	}
	_, err := io.WriteString(out, b.String())
	return err
}
