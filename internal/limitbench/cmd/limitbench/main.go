// Command limitbench checks how exactly Fairway's limit layers hold under
// several worker processes (see package internal/limitbench): a queue-wide
// rate limit, every facet's rate limit and a global concurrency cap on one
// queue, with one worker SIGKILLed and restarted halfway. It prints a table
// of the checks and exits 1 if any failed.
//
//	go run ./internal/limitbench/cmd/limitbench            # a minute (make bench-limits)
//	go run ./internal/limitbench/cmd/limitbench -short     # a few seconds
//
// It needs redis-server (on PATH, or $FAIRWAY_REDIS_SERVER). Everything
// listens on 127.0.0.1. The worker processes are this program run again.
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

	"github.com/fairwayhq/fairway/internal/limitbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	var err error
	if limitbench.IsWorker() {
		err = limitbench.WorkerMain(ctx)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "limitbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// -short picks the preset that the other flags then change.
	cfg := limitbench.Long()
	if slices.ContainsFunc(args, func(a string) bool {
		a = strings.TrimLeft(a, "-")
		return a == "short" || a == "short=true"
	}) {
		cfg = limitbench.Short()
	}
	fs := flag.NewFlagSet("limitbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("short", false, "a run of a few seconds instead of a minute")
	quiet := fs.Bool("q", false, "print the table only, no progress")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the workers run")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker processes")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "handlers per worker")
	fs.IntVar(&cfg.Cap, "cap", cfg.Cap, "the queue's global concurrency")
	fs.IntVar(&cfg.Facets, "facets", cfg.Facets, "small facets")
	fs.IntVar(&cfg.PerFacet, "per-facet", cfg.PerFacet, "messages per small facet")
	fs.IntVar(&cfg.FloodMessages, "flood", cfg.FloodMessages, "messages of the flood facet")
	fs.DurationVar(&cfg.WorkMin, "work-min", cfg.WorkMin, "shortest handler")
	fs.DurationVar(&cfg.WorkMax, "work-max", cfg.WorkMax, "longest handler")
	fs.DurationVar(&cfg.Lease, "lease", cfg.Lease, "the workers' lease duration")
	fs.BoolVar(&cfg.Kill, "kill", cfg.Kill, "SIGKILL and restart one worker halfway")
	fs.Float64Var(&cfg.MinRate, "min-rate", cfg.MinRate, "least fraction of the queue's rate to achieve")
	fs.StringVar(&cfg.Dir, "dir", "", "directory to keep the workers' logs in (default: a temporary one, kept on failure)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*quiet {
		cfg.Log = func(format string, args ...any) { _, _ = fmt.Fprintf(stderr, format+"\n", args...) }
	}
	res, err := limitbench.Run(ctx, cfg)
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
