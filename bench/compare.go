package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The comparison runs every scenario for Fairway and for asynq on the same
// private redis-server, round after round, alternating which library goes
// first, with FLUSHALL before each run; each figure in the table is the
// median of the rounds (or, for latencies and idle rates, computed over
// the samples of all rounds pooled).

// compareSizes are the workloads of the comparison.
type compareSizes struct {
	enqueueSingle  int           // messages enqueued one per call
	enqueueBatch   int           // messages enqueued in batches
	e2e            int           // messages enqueued, then processed
	pickupFairway  int           // messages picked up one at a time, per round
	pickupAsynq    int           // the same for asynq, about 0.5 s each
	memory         int           // messages queued to measure memory
	fairBig        int           // messages of the big tenant
	fairTenants    int           // small tenants
	fairEach       int           // messages of each small tenant
	facetCounts    []int         // numbers of active facets to pull from
	facetPulls     int           // messages pulled at each number of facets
	idleWindow     time.Duration // how long an idle worker is watched, per round
	pickupIdle     time.Duration // how long the pool idles before the pickups
	asynqEnqueuers int           // goroutines calling asynq's Enqueue at once in its batch path
}

// sizesFor returns the full workloads, or a tenth of them for a smoke run
// (-quick). n is the e2e size.
func sizesFor(quick bool, n int) compareSizes {
	s := compareSizes{
		enqueueSingle:  50_000,
		enqueueBatch:   100_000,
		e2e:            n,
		pickupFairway:  200,
		pickupAsynq:    50,
		memory:         100_000,
		fairBig:        20_000,
		fairTenants:    100,
		fairEach:       10,
		facetCounts:    []int{10, 10_000, 100_000},
		facetPulls:     50_000,
		idleWindow:     10 * time.Second,
		pickupIdle:     2 * time.Second,
		asynqEnqueuers: asynqBatchGoroutines,
	}
	if quick {
		s.enqueueSingle /= 10
		s.enqueueBatch /= 10
		s.pickupFairway /= 10
		s.pickupAsynq /= 10
		s.memory /= 10
		s.facetCounts = []int{10, 1_000, 10_000}
		s.facetPulls /= 10
		s.idleWindow = 2 * time.Second
	}
	return s
}

// measurement is what one run of one library gives: named series. Most
// hold one number; latencies hold every sample, so that rounds can be
// pooled.
type measurement map[string][]float64

// measureFunc measures one library once.
type measureFunc func(ctx context.Context, e *env) (measurement, error)

// comparison is one scenario, measured for both libraries each round.
type comparison struct {
	name  string
	title string // the scenario column of the table
	// fairway and asynq measure each library; asynq is nil where asynq has
	// nothing to compare (the table says n/a).
	fairway, asynq measureFunc
	rows           []rowSpec
}

// rowSpec is one line of the table.
type rowSpec struct {
	key    string // series of the measurements
	metric string
	unit   string
	// reduce makes the figure out of every round's measurement; nil is the
	// median of the rounds' single values.
	reduce func(ms []measurement, key string) float64
	// target judges the figures; nil for none.
	target func(f figures) (text string, met bool)
}

// figures are a row's results.
type figures struct {
	fairway, asynq float64
	hasAsynq       bool
	// fairwayRows are the Fairway figures of the scenario's rows, by key
	// (the first row of each key), for targets relative to another row.
	fairwayRows map[string]float64
}

func (f figures) ratio() float64 { return f.fairway / f.asynq }

// medianOfRounds is the default reducer.
func medianOfRounds(ms []measurement, key string) float64 {
	var vs []float64
	for _, m := range ms {
		vs = append(vs, m[key]...)
	}
	return median(vs)
}

// pooledPercentile reduces to the p-th quantile of every round's samples.
func pooledPercentile(p float64) func([]measurement, string) float64 {
	return func(ms []measurement, key string) float64 {
		var all []float64
		for _, m := range ms {
			all = append(all, m[key]...)
		}
		if len(all) == 0 {
			return math.NaN()
		}
		slices.Sort(all)
		return percentile(all, p)
	}
}

// pooledRate reduces to the sum of every round's count over the sum of
// their "seconds" series: a rate over all the time watched.
func pooledRate(ms []measurement, key string) float64 {
	var n, secs float64
	for _, m := range ms {
		for _, v := range m[key] {
			n += v
		}
		for _, v := range m["seconds"] {
			secs += v
		}
	}
	return n / secs
}

// Targets.

func ratioAtLeast(x float64) func(figures) (string, bool) {
	return func(f figures) (string, bool) {
		return fmt.Sprintf("≥ %s× asynq", human(x)), f.hasAsynq && f.ratio() >= x
	}
}

func ratioAtMost(x float64, text string) func(figures) (string, bool) {
	return func(f figures) (string, bool) {
		return fmt.Sprintf("≤ %s asynq", text), f.hasAsynq && f.ratio() <= x
	}
}

func fairwayAtMost(x float64, unit string) func(figures) (string, bool) {
	return func(f figures) (string, bool) {
		return fmt.Sprintf("Fairway ≤ %s %s", human(x), unit), f.fairway <= x
	}
}

// relativeAtMost: the Fairway figure at most x times the one of row key.
func relativeAtMost(key string, x float64, what string) func(figures) (string, bool) {
	return func(f figures) (string, bool) {
		rel := f.fairway / f.fairwayRows[key]
		return fmt.Sprintf("≤ %s× %s (now %s×)", human(x), what, human(rel)), rel <= x
	}
}

// comparisons are the scenarios of the comparison, in the order they run.
func comparisons(s compareSizes) []comparison {
	return []comparison{
		enqueueSingleComparison(),
		enqueueBatchComparison(s),
		e2eComparison(),
		pickupComparison(),
		memoryComparison(),
		fairnessComparison(),
		facetsComparison(s),
		idleComparison(),
	}
}

// compareOptions are the comparison's flags.
type compareOptions struct {
	rounds  int
	quick   bool
	names   string // comma-separated comparisons; "" for all
	out     string // results file; "" for none
	command string // the command line, for the results file
}

// pickComparisons returns the comparisons named in a comma-separated list,
// or all of them for "".
func pickComparisons(names string, s compareSizes) ([]comparison, error) {
	all := comparisons(s)
	if names == "" {
		return all, nil
	}
	var out []comparison
	for name := range strings.SplitSeq(names, ",") {
		i := slices.IndexFunc(all, func(c comparison) bool { return c.name == strings.TrimSpace(name) })
		if i < 0 {
			var known []string
			for _, c := range all {
				known = append(known, c.name)
			}
			return nil, fmt.Errorf("unknown comparison %q (known: %s)", name, strings.Join(known, ","))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// library is one side of the comparison.
type library int

const (
	fairwayLib library = iota
	asynqLib
)

func (l library) String() string { return [...]string{"Fairway", "asynq"}[l] }

// compareRow is a row of the table, judged.
type compareRow struct {
	scenario, metric string
	fig              figures
	unit             string
	target           string
	hasTarget, met   bool
}

// runCompare runs the comparison and prints its table on stdout, and writes
// it with the machine's details to opts.out.
func runCompare(ctx context.Context, e *env, opts compareOptions, stdout io.Writer) error {
	selected, err := pickComparisons(opts.names, e.sizes)
	if err != nil {
		return err
	}
	rdb := e.srv.client()
	defer func() { _ = rdb.Close() }()
	mach, err := startMachine(ctx, rdb)
	if err != nil {
		return err
	}
	e.printf("comparing Fairway with asynq: %d round(s) of %d scenario(s) on redis-server %s (%s)\n",
		opts.rounds, len(selected), mach.redisVersion, e.srv.addr)
	results := make(map[string]*[2][]measurement)
	for _, c := range selected {
		results[c.name] = new([2][]measurement)
	}
	for round := range opts.rounds {
		for _, c := range selected {
			libs := []library{fairwayLib, asynqLib}
			if round%2 == 1 {
				slices.Reverse(libs)
			}
			for _, lib := range libs {
				fn := c.fairway
				if lib == asynqLib {
					fn = c.asynq
				}
				if fn == nil {
					continue
				}
				if err := rdb.FlushAll(ctx).Err(); err != nil {
					return err
				}
				e.round = round
				e.label = fmt.Sprintf("round %d, %s, %s", round+1, c.name, lib)
				e.printf("%s...\n", e.label)
				m, err := fn(ctx, e)
				if err != nil {
					return fmt.Errorf("%s: %w", e.label, err)
				}
				results[c.name][lib] = append(results[c.name][lib], m)
			}
		}
		if err := mach.afterRound(ctx, rdb); err != nil {
			return err
		}
		e.printf("round %d done; load average %s; other processes used %.2f cores\n",
			round+1, mach.loads[len(mach.loads)-1], mach.roundOthers[len(mach.roundOthers)-1])
	}
	if err := mach.finish(ctx, rdb); err != nil {
		return err
	}
	rows := judge(selected, results)
	table := compareTable(rows)
	_, _ = io.WriteString(stdout, table)
	if opts.out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
		return err
	}
	doc := resultsDoc(table, mach, opts, e)
	if err := os.WriteFile(opts.out, []byte(doc), 0o644); err != nil {
		return err
	}
	e.printf("wrote %s\n", opts.out)
	return nil
}

// judge reduces the measurements to figures and checks the targets.
func judge(selected []comparison, results map[string]*[2][]measurement) []compareRow {
	var rows []compareRow
	for _, c := range selected {
		r := results[c.name]
		fw := make([]float64, len(c.rows))
		byKey := make(map[string]float64)
		for i, spec := range c.rows {
			fw[i] = reduceRow(spec, r[fairwayLib])
			if _, ok := byKey[spec.key]; !ok {
				byKey[spec.key] = fw[i]
			}
		}
		for i, spec := range c.rows {
			f := figures{fairway: fw[i], fairwayRows: byKey}
			if len(r[asynqLib]) > 0 {
				f.asynq, f.hasAsynq = reduceRow(spec, r[asynqLib]), true
			}
			row := compareRow{scenario: c.title, metric: spec.metric, fig: f, unit: spec.unit}
			if spec.target != nil {
				row.target, row.met = spec.target(f)
				row.hasTarget = true
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func reduceRow(spec rowSpec, ms []measurement) float64 {
	if len(ms) == 0 {
		return math.NaN()
	}
	if spec.reduce != nil {
		return spec.reduce(ms, spec.key)
	}
	return medianOfRounds(ms, spec.key)
}

// compareTable renders the rows as one markdown table.
func compareTable(rows []compareRow) string {
	cells := [][]string{{"scenario", "metric", "Fairway", "asynq", "Fairway ÷ asynq", "target", "met"}}
	last := ""
	for _, r := range rows {
		scenario := r.scenario
		if scenario == last {
			scenario = ""
		}
		last = r.scenario
		asynq, ratio := "n/a", "n/a"
		if r.fig.hasAsynq {
			asynq = withUnit(r.fig.asynq, r.unit)
			ratio = ratioText(r.fig.ratio())
		}
		target, met := "", ""
		if r.hasTarget {
			target, met = r.target, "met"
			if !r.met {
				met = "**missed**"
			}
		}
		cells = append(cells, []string{scenario, r.metric, withUnit(r.fig.fairway, r.unit), asynq, ratio, target, met})
	}
	return markdownTable(cells)
}

// human formats v with thousands separators and a precision fit for its
// size.
func human(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "—"
	case math.Abs(v) >= 1000:
		s := fmt.Sprintf("%.0f", math.Round(v))
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 0.1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func withUnit(v float64, unit string) string {
	return strings.TrimSpace(human(v) + " " + unit)
}

// ratioText shows a ratio as "3.20×", or one far below 1 as "1/1,000".
func ratioText(r float64) string {
	if r > 0 && r < 0.1 {
		return "1/" + human(1/r)
	}
	return human(r) + "×"
}

// count formats an integer with thousands separators.
func count(n int) string {
	if n < 1000 {
		return strconv.Itoa(n)
	}
	return human(float64(n))
}
