// Command bench measures the Fairway worker against its targets: end-to-end
// throughput, how fast an idle pool picks up a new message, and how many
// commands an idle worker sends to Redis. It starts its own redis-server on
// a free loopback port, so nothing else disturbs the numbers, and prints a
// markdown table.
//
//	cd bench && go run . [-n 100000] [-scenarios e2e,pickup,idle] [-check]
//
// It is a module of its own so that the libraries it compares Fairway with
// stay out of Fairway's go.mod. Each scenario is one file.
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
	"strings"
	"syscall"
)

// scenario is one measurement.
type scenario struct {
	name string
	run  func(ctx context.Context, e *env) ([]result, error)
}

// scenarios are all the measurements, in the order they run.
var scenarios = []scenario{
	{"e2e", runE2E},
	{"pickup", runPickup},
	{"idle", runIdle},
}

// env is what the scenarios share.
type env struct {
	srv  *redisServer
	n    int          // messages in the e2e scenario
	log  *slog.Logger // for the libraries under test: warnings only
	info io.Writer    // progress and details
}

// printf reports progress and details on the info writer.
func (e *env) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(e.info, format, args...)
}

var errMissed = errors.New("a target was missed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 100_000, "messages in the e2e scenario")
	names := fs.String("scenarios", "e2e,pickup,idle", "comma-separated scenarios to run")
	check := fs.Bool("check", false, "exit 1 if a target is missed")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the scenarios to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	selected, err := pick(*names)
	if err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n %d is below 1", *n)
	}
	bin, err := redisBinary()
	if err != nil {
		return err
	}
	srv, err := startRedis(ctx, bin)
	if err != nil {
		return err
	}
	defer srv.stop()
	if *cpuProfile != "" {
		stopProfile, err := startProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	e := &env{srv: srv, n: *n, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), info: stderr}
	var results []result
	for _, s := range selected {
		e.printf("running %s...\n", s.name)
		rs, err := s.run(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results = append(results, rs...)
	}
	printTable(stdout, results)
	if *check && slices.ContainsFunc(results, func(r result) bool { return !r.met() }) {
		return errMissed
	}
	return nil
}

// pick returns the scenarios named in a comma-separated list.
func pick(names string) ([]scenario, error) {
	var out []scenario
	for name := range strings.SplitSeq(names, ",") {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
		out = append(out, scenarios[i])
	}
	return out, nil
}

func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
