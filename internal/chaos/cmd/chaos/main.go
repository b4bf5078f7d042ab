// Command chaos runs Fairway's chaos test (see package internal/chaos): it
// SIGKILLs workers and redis-server while messages are delivered and
// handled, then checks that none was lost, prints a table of what happened,
// and exits 1 if any check failed.
//
//	go run ./internal/chaos/cmd/chaos          # the long run (make chaos)
//	go run ./internal/chaos/cmd/chaos -short   # the short run CI makes (make chaos-short)
//
// It needs redis-server (on PATH, or $FAIRWAY_REDIS_SERVER) and the go
// tool, to build examples/worker. Everything listens on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/fairwayhq/fairway/internal/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// -short picks the preset that the other flags then change.
	cfg := chaos.Long()
	if slices.ContainsFunc(args, func(a string) bool {
		return strings.TrimLeft(a, "-") == "short" || strings.TrimLeft(a, "-") == "short=true"
	}) {
		cfg = chaos.Short()
	}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("short", false, "the short run (about a minute) instead of the long one (a few minutes)")
	quiet := fs.Bool("q", false, "print the table only, no progress")
	fs.IntVar(&cfg.Messages, "n", cfg.Messages, "messages to deliver")
	fs.IntVar(&cfg.Facets, "facets", cfg.Facets, "facets to spread them over")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker processes running at once")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "handlers per worker")
	fs.IntVar(&cfg.Kills, "kills", cfg.Kills, "workers to SIGKILL (each replaced)")
	fs.IntVar(&cfg.RedisRestarts, "redis-restarts", cfg.RedisRestarts, "times to SIGKILL and restart redis-server")
	fs.DurationVar(&cfg.RedisDowntime, "redis-downtime", cfg.RedisDowntime, "how long redis-server stays down each time")
	fs.IntVar(&cfg.Repartition, "repartition", cfg.Repartition, "split the queue into this many partitions halfway (0: never)")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "messages delivered per second")
	fs.DurationVar(&cfg.WorkTime, "work-time", cfg.WorkTime, "how long each message takes to handle")
	fs.DurationVar(&cfg.Lease, "lease", cfg.Lease, "the workers' lease duration")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on the whole run")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the kills' choice and timing (0: random)")
	fs.StringVar(&cfg.WorkerBin, "worker-bin", "", "examples/worker binary (default: build it)")
	fs.StringVar(&cfg.Dir, "dir", "", "directory to keep the workers' logs in (default: a temporary one, kept on failure)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*quiet {
		cfg.Log = stderr
	}
	res, err := chaos.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := res.WriteTable(stdout); err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("%d check(s) failed", len(res.Failures))
	}
	return nil
}
