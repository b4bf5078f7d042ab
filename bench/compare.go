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

// The comparison runs every scenario for each selected system (Fairway,
// asynq, River, BullMQ and the ceiling program) on the same private
// redis-server (River on a private postgres), round after round, rotating
// which system goes first, with FLUSHALL before each run; each figure in
// the table is the median of the rounds (or, for latencies and idle rates,
// computed over the samples of all rounds pooled).

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
		facetCounts:    []int{10, 10_000, 100_000, 1_000_000},
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

// measurement is what one run of one system gives: named series. Most
// hold one number; latencies hold every sample, so that rounds can be
// pooled.
type measurement map[string][]float64

// measureFunc measures one system once.
type measureFunc func(ctx context.Context, e *env) (measurement, error)

// comparison is one scenario, measured for every system that has a
// measureFunc for it, each round.
type comparison struct {
	name  string
	title string // the scenario column of the table
	// measure measures each system; nil where a system has nothing to
	// compare (the table says n/a).
	measure measures
	rows    []rowSpec
}

// rowSpec is one line of the table.
type rowSpec struct {
	key    string // series of the measurements
	metric string
	unit   string
	// reduce makes the figure out of every round's measurement; nil is the
	// median of the rounds' single values.
	reduce func(ms []measurement, key string) float64
	// targets judge the figures, each on its own; none for a row without
	// a target.
	targets []target
}

// target is one bound on a row's figures. It returns its text, whether it
// was met, and whether it could be judged at all (false when the system it
// compares with was not measured).
type target func(f figures) (text string, met, judged bool)

// figures are a row's results, one per system.
type figures struct {
	v   [numSystems]float64
	has [numSystems]bool
	// fairwayRows are the Fairway figures of the scenario's rows, by key
	// (the first row of each key), for targets relative to another row.
	fairwayRows map[string]float64
}

// ratio is Fairway's figure over system s's.
func (f figures) ratio(s system) float64 { return f.v[fairwaySys] / f.v[s] }

// comparable reports whether Fairway and s both have a figure.
func (f figures) comparable(s system) bool { return f.has[fairwaySys] && f.has[s] }

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

// ratioAtLeast: Fairway's figure at least x times s's.
func ratioAtLeast(s system, x float64) target {
	return func(f figures) (string, bool, bool) {
		return fmt.Sprintf("≥ %s× %s", human(x), s), f.comparable(s) && f.ratio(s) >= x, f.comparable(s)
	}
}

// aheadOf: Fairway's figure above s's (for rates).
func aheadOf(s system) target {
	return func(f figures) (string, bool, bool) {
		return "ahead of " + s.String(), f.comparable(s) && f.ratio(s) > 1, f.comparable(s)
	}
}

// ratioAtMost: Fairway's figure at most x times s's, x written as text.
func ratioAtMost(s system, x float64, text string) target {
	return func(f figures) (string, bool, bool) {
		return fmt.Sprintf("≤ %s %s", text, s), f.comparable(s) && f.ratio(s) <= x, f.comparable(s)
	}
}

// fairwayAtMost: Fairway's own figure at most x.
func fairwayAtMost(x float64, unit string) target {
	return func(f figures) (string, bool, bool) {
		return strings.TrimSpace(fmt.Sprintf("Fairway ≤ %s %s", human(x), unit)), f.has[fairwaySys] && f.v[fairwaySys] <= x, f.has[fairwaySys]
	}
}

// relativeAtMost: Fairway's figure at most x times its own figure of row
// key.
func relativeAtMost(key string, x float64, what string) target {
	return func(f figures) (string, bool, bool) {
		rel := f.v[fairwaySys] / f.fairwayRows[key]
		judged := f.has[fairwaySys] && !math.IsNaN(rel)
		return fmt.Sprintf("≤ %s× %s (now %s×)", human(x), what, human(rel)), judged && rel <= x, judged
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
	names   string   // comma-separated comparisons; "" for all
	systems []system // the systems to measure, in the table's order
	out     string   // results file; "" for none
	command string   // the command line, for the results file
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

// compareRow is a row of the table, judged.
type compareRow struct {
	scenario, metric string
	fig              figures
	unit             string
	targets          []judgedTarget
}

// judgedTarget is a target's text and verdict.
type judgedTarget struct {
	text        string
	met, judged bool
}

// results are every run's measurements: by comparison, then by system,
// one per round.
type results map[string]*[numSystems][]measurement

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
	cleanup, skipped := preparePeers(ctx, e, opts.systems, peers())
	defer cleanup()
	e.skipped = skipped
	var names []string
	for _, s := range opts.systems {
		names = append(names, s.String())
	}
	e.printf("comparing %s: %d round(s) of %d scenario(s) on redis-server %s (%s)\n",
		strings.Join(names, ", "), opts.rounds, len(selected), mach.redisVersion, e.srv.addr)
	res := make(results)
	for _, c := range selected {
		res[c.name] = new([numSystems][]measurement)
	}
	for round := range opts.rounds {
		for _, c := range selected {
			for _, sys := range rotated(opts.systems, round) {
				fn := c.measure[sys]
				if fn == nil || skipped[sys] != "" {
					continue
				}
				if err := rdb.FlushAll(ctx).Err(); err != nil {
					return err
				}
				e.round = round
				e.label = fmt.Sprintf("round %d, %s, %s", round+1, c.name, sys)
				e.printf("%s...\n", e.label)
				m, err := fn(ctx, e)
				if err != nil {
					if ctx.Err() != nil || !optional(sys) {
						return fmt.Errorf("%s: %w", e.label, err)
					}
					// A peer's failure costs its figure, not the run.
					e.note("failed, left out of the table: %v", err)
					continue
				}
				res[c.name][sys] = append(res[c.name][sys], m)
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
	rows := judge(selected, res)
	table := compareTable(rows, opts.systems) + tableNotes(opts.systems, skipped)
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

// optional reports whether a failure of system s is reported and left out
// rather than ending the run: so for the peers with runtimes of their own.
func optional(s system) bool { return s == riverSys || s == bullmqSys }

// tableNotes says, under the table, how each selected system was set up
// where that differs from its defaults, and which systems were skipped
// and why.
func tableNotes(systems []system, skipped map[system]string) string {
	notes := map[system]string{
		riverSys: fmt.Sprintf("River runs on a private postgres with %s (no durability, as the redis-server has no persistence), "+
			"a pgx pool of %d connections, and FetchCooldown %v (default 100 ms, which caps a client at MaxWorkers jobs per 100 ms); "+
			"it uses no Redis, so its Redis rows are n/a; its memory row is river_job's size on disk (pg_total_relation_size) per job.",
			strings.Join(riverPGSettings, ", "), riverPoolSize, riverFetchCooldown),
		bullmqSys: fmt.Sprintf("BullMQ %s (ioredis %s) runs in node through bench/bullmq/driver.mjs, with completed jobs removed (removeOnComplete), "+
			"and times its own enqueue, processing and pickups.", bullmqVersion, ioredisVersion),
		ceilingSys: "ceiling is a bare fair pull of our own (bench/ceiling*.go): a ring of facets, a list per facet, leases in a sorted set, " +
			"batched enqueue, PullN round robin, batched ack with one ZREM; no retries, limits, priorities or notifications, so no pickup or idle rows.",
	}
	var b strings.Builder
	for _, s := range systems {
		if why := skipped[s]; why != "" {
			fmt.Fprintf(&b, "\n%s: skipped (%s); its columns are n/a.\n", s.flagName(), why)
		} else if n := notes[s]; n != "" {
			fmt.Fprintf(&b, "\n%s\n", n)
		}
	}
	return b.String()
}

// judge reduces the measurements to figures and checks the targets.
func judge(selected []comparison, res results) []compareRow {
	var rows []compareRow
	for _, c := range selected {
		r := res[c.name]
		if r == nil {
			r = new([numSystems][]measurement)
		}
		byKey := make(map[string]float64)
		for _, spec := range c.rows {
			if _, ok := byKey[spec.key]; !ok {
				byKey[spec.key] = reduceRow(spec, r[fairwaySys])
			}
		}
		for _, spec := range c.rows {
			f := figures{fairwayRows: byKey}
			for s := range numSystems {
				if hasKey(r[s], spec.key) {
					f.v[s], f.has[s] = reduceRow(spec, r[s]), true
				} else {
					f.v[s] = math.NaN()
				}
			}
			row := compareRow{scenario: c.title, metric: spec.metric, fig: f, unit: spec.unit}
			for _, t := range spec.targets {
				text, met, judged := t(f)
				row.targets = append(row.targets, judgedTarget{text: text, met: met, judged: judged})
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// hasKey reports whether some round measured series key: a system that
// measures a scenario may have nothing for one of its rows (River, which
// uses no Redis, for the Redis rows).
func hasKey(ms []measurement, key string) bool {
	return slices.ContainsFunc(ms, func(m measurement) bool { return len(m[key]) > 0 })
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

// compareTable renders the rows as one markdown table: each system's
// figure, then Fairway's ratio to each other system, then the targets and
// their verdicts, one per target, in the same order.
func compareTable(rows []compareRow, systems []system) string {
	header := []string{"scenario", "metric"}
	for _, s := range systems {
		header = append(header, s.String())
	}
	others := slices.DeleteFunc(slices.Clone(systems), func(s system) bool { return s == fairwaySys })
	withFairway := slices.Contains(systems, fairwaySys)
	if withFairway {
		for _, s := range others {
			header = append(header, "Fairway ÷ "+s.String())
		}
	}
	header = append(header, "target", "met")
	cells := [][]string{header}
	last := ""
	for _, r := range rows {
		scenario := r.scenario
		if scenario == last {
			scenario = ""
		}
		last = r.scenario
		line := []string{scenario, r.metric}
		for _, s := range systems {
			v := "n/a"
			if r.fig.has[s] {
				v = withUnit(r.fig.v[s], r.unit)
			}
			line = append(line, v)
		}
		if withFairway {
			for _, s := range others {
				v := "n/a"
				if r.fig.comparable(s) {
					v = ratioText(r.fig.ratio(s))
				}
				line = append(line, v)
			}
		}
		var texts, verdicts []string
		for _, t := range r.targets {
			texts = append(texts, t.text)
			switch {
			case !t.judged:
				verdicts = append(verdicts, "n/a")
			case t.met:
				verdicts = append(verdicts, "met")
			default:
				verdicts = append(verdicts, "**missed**")
			}
		}
		line = append(line, strings.Join(texts, "; "), strings.Join(verdicts, "; "))
		cells = append(cells, line)
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
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
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
