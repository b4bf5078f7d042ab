// Command bench measures Fairway. It starts its own redis-server on a free
// loopback port, so nothing else disturbs the numbers, and prints a markdown
// table.
//
// By default it measures the Fairway worker against its own targets:
// end-to-end throughput, how fast an idle pool picks up a new message, and
// how many commands an idle worker sends to Redis (make bench-worker).
//
//	cd bench && go run . [-n 100000] [-scenarios e2e,pickup,idle] [-check]
//
// With -compare it runs every scenario for Fairway, asynq, River, BullMQ and
// a ceiling program of our own (a bare fair pull in Lua) on the same server,
// in rounds, and prints one table with every system's figure, Fairway's
// ratio to each and the targets (make bench-compare). River and BullMQ need
// postgres and node; either is skipped, with a line saying why, when its
// runtime is missing:
//
//	cd bench && go run . -compare [-rounds 3] [-quick] [-scenarios enqueue,...] [-systems fairway,asynq,...] [-out results/latest.md]
//
// With -breakdown it shows, per message, the Redis commands and time each
// operation costs (DeliverBatch, PullN and AckMany at several sizes, and
// asynq's Enqueue), the evidence for BENCHMARKS.md's analysis:
//
//	cd bench && go run . -breakdown
//
// It is a module of its own so that the libraries it compares Fairway with
// stay out of Fairway's go.mod. Each scenario is one file.
package main

import (
	"cmp"
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

// scenario is one measurement of the worker mode.
type scenario struct {
	name string
	run  func(ctx context.Context, e *env) ([]result, error)
}

// scenarios are all the measurements of the worker mode, in the order they
// run.
var scenarios = []scenario{
	{"e2e", runE2E},
	{"pickup", runPickup},
	{"idle", runIdle},
}

// env is what the scenarios share.
type env struct {
	srv   *redisServer
	n     int          // messages in the e2e scenario
	log   *slog.Logger // for the libraries under test: warnings only
	info  io.Writer    // progress and details
	sizes compareSizes // the comparison's workloads
	round int          // the comparison's round under way, from 0
	label string       // the comparison run under way, for its notes
	notes []string     // the comparison's details, for the results file
	// skipped are the selected systems that could not be set up, with the
	// reason.
	skipped map[system]string
	river   *riverPeer  // the River peer's postgres, once set up
	bullmq  *bullmqPeer // the BullMQ peer's node and package, once set up
}

// printf reports progress and details on the info writer.
func (e *env) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(e.info, format, args...)
}

// note reports a detail of the comparison run under way, and keeps it for
// the results file.
func (e *env) note(format string, args ...any) {
	s := e.label + ": " + fmt.Sprintf(format, args...)
	e.notes = append(e.notes, s)
	e.printf("  %s\n", s)
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
	names := fs.String("scenarios", "", "comma-separated scenarios to run (default: all of the mode)")
	check := fs.Bool("check", false, "exit 1 if a target is missed")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the scenarios to this file")
	compare := fs.Bool("compare", false, "compare Fairway with the other systems, scenario by scenario")
	systemsFlag := fs.String("systems", "fairway,asynq,river,bullmq,ceiling", "with -compare: comma-separated systems to measure")
	rounds := fs.Int("rounds", 3, "with -compare: rounds; figures are their medians")
	quick := fs.Bool("quick", false, "with -compare: a smoke run, about a tenth of the work, one round unless -rounds is given")
	out := fs.String("out", "", "with -compare: also write the table and the machine's details to this file")
	breakdown := fs.Bool("breakdown", false, "show where Redis spends its time in each operation, per message")
	enqueuers := fs.Int("asynq-enqueuers", asynqBatchGoroutines, "with -compare: goroutines calling asynq's Enqueue at once in its batch path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *n < 1 {
		return fmt.Errorf("-n %d is below 1", *n)
	}
	if *quick && !set["rounds"] {
		*rounds = 1
	}
	if *quick && !set["n"] {
		*n /= 10
	}
	if *enqueuers < 1 {
		return fmt.Errorf("-asynq-enqueuers %d is below 1", *enqueuers)
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d is below 1", *rounds)
	}
	systems, err := parseSystems(*systemsFlag)
	if err != nil {
		return err
	}
	var selected []scenario
	if !*compare {
		var err error
		if selected, err = pick(cmp.Or(*names, "e2e,pickup,idle")); err != nil {
			return err
		}
	} else if _, err := pickComparisons(*names, sizesFor(*quick, *n)); err != nil {
		return err
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
	sizes := sizesFor(*quick, *n)
	sizes.asynqEnqueuers = *enqueuers
	e := &env{
		srv: srv, n: *n, info: stderr, sizes: sizes,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if *breakdown {
		return runBreakdown(ctx, e, stdout)
	}
	if *compare {
		return runCompare(ctx, e, compareOptions{
			rounds: *rounds, quick: *quick, names: *names, out: *out, systems: systems,
			command: "cd bench && go run . " + strings.Join(args, " "),
		}, stdout)
	}
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
