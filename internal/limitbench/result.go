package limitbench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is what a run measured and which checks failed.
type Result struct {
	Config Config
	// Pulls counts the pulls recorded; First is the first one's time (ms,
	// Redis's clock) and Span the time from it to the last.
	Pulls int
	First int64
	Span  time.Duration
	// Rate is the pulls per second over Span; RateWanted the queue's rate
	// limit per second.
	Rate, RateWanted float64
	// QueueMax is the most pulls of the queue in one window of its rate
	// limit's period; QueueBound the most the limit allows.
	QueueMax, QueueBound int
	// FloodMax and SmallMax are the most pulls of the flood facet, and of
	// any small facet, in one window of the facets' period; FacetBound the
	// most their rate limit allows.
	FloodMax, SmallMax, FacetBound int
	// FloodRate is the flood facet's pulls per second.
	FloodRate float64
	// MaxRunning is the most handlers running at once, a killed process's
	// leases included until they ended; AtCap counts the handlers that
	// started with the cap reached.
	MaxRunning, AtCap int
	// MaxLag is the longest time from a pull to its handler's start.
	MaxLag time.Duration
	// SmallFacets, SmallMin and SmallMaxPulls: how many small facets were
	// pulled, and the fewest and most pulls of one; FloodPulls the flood
	// facet's.
	SmallFacets, SmallMin, SmallMaxPulls, FloodPulls int
	// Redelivered counts pulls of a message pulled before (attempt > 1);
	// Unrecorded the messages with a pull missing from the records.
	Redelivered, Unrecorded int
	// Kill is what the SIGKILL of a worker did, when Config.Kill is set.
	Kill *KillReport
	// Invariants is the queue's invariant check at the end, "" when it
	// holds.
	Invariants string
	// Failures lists the checks that failed.
	Failures    []string
	earlyRepull bool // (g) failed
	// LogDir holds the workers' logs when it was kept.
	LogDir string
}

// KillReport is one SIGKILL of a worker process.
type KillReport struct {
	Pid int
	// At is when it was killed, since the first pull; Hold how long it
	// took from asking it to hold its handlers to all of them held.
	At, Hold time.Duration
	// Leases is how many leases its handlers held when it died; FirstEnd
	// and LastEnd are when the first and the last of them ended, since the
	// kill.
	Leases            int
	FirstEnd, LastEnd time.Duration
	// Repulled counts its messages pulled again by the end of the run, and
	// FirstRepull is when the first was, since the kill.
	Repulled    int
	FirstRepull time.Duration
	killedAt    int64            // ms, Redis's clock
	ends        map[string]int64 // "<ID>|<attempt>" -> when its lease ended (ms)
}

// OK reports whether every check passed.
func (r *Result) OK() bool { return len(r.Failures) == 0 }

func (r *Result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "**FAILED**"
}

// WriteTable writes the run and its checks as Markdown.
func (r *Result) WriteTable(w io.Writer) error {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "%d worker processes × %d handlers for %v; queue rate %v, every facet's %v, global cap %d; %d small facets and a flood facet of priority %d; work %v–%v; lease %v\n\n",
		c.Workers, c.Concurrency, c.Duration, c.QueueRate, c.FacetRate, c.Cap, c.Facets, c.FloodPriority, c.WorkMin, c.WorkMax, c.Lease)
	fmt.Fprintf(&b, "| check | measured | allowed | result |\n|---|---|---|---|\n")
	row := func(name, measured, allowed string, ok bool) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, measured, allowed, verdict(ok))
	}
	row(fmt.Sprintf("(a) queue: most pulls in a window of %v", c.QueueRate.Per), fmt.Sprint(r.QueueMax), fmt.Sprintf("≤ %d", r.QueueBound), r.QueueMax <= r.QueueBound)
	row(fmt.Sprintf("(b) flood facet: most pulls in a window of %v", c.FacetRate.Per), fmt.Sprint(r.FloodMax), fmt.Sprintf("≤ %d", r.FacetBound), r.FloodMax <= r.FacetBound)
	row(fmt.Sprintf("(b) any small facet: most pulls in a window of %v", c.FacetRate.Per), fmt.Sprint(r.SmallMax), fmt.Sprintf("≤ %d", r.FacetBound), r.SmallMax <= r.FacetBound)
	row("(c) handlers running at once (a killed worker's leases counted until they end)", fmt.Sprintf("%d (%d starts at the cap)", r.MaxRunning, r.AtCap), fmt.Sprintf("≤ %d", c.Cap), r.MaxRunning <= c.Cap)
	row("(d) pulls a second, first pull to last", fmt.Sprintf("%.1f over %.1fs (flood facet %.2f)", r.Rate, r.Span.Seconds(), r.FloodRate), fmt.Sprintf("≥ %.0f (%.0f%% of %.0f)", c.MinRate*r.RateWanted, 100*c.MinRate, r.RateWanted), r.Rate >= c.MinRate*r.RateWanted)
	row("(e) pulls per small facet, fewest / most", fmt.Sprintf("%d / %d over %d facets (flood %d)", r.SmallMin, r.SmallMaxPulls, r.SmallFacets, r.FloodPulls), "differ by ≤ 1", r.SmallMaxPulls-r.SmallMin <= 1)
	row("(f) pulls on record", fmt.Sprintf("%d, of which %d redeliveries; %d messages with a pull missing", r.Pulls, r.Redelivered, r.Unrecorded), "none missing", r.Unrecorded == 0)
	if k := r.Kill; k != nil {
		row("(g) a killed worker's messages pulled again only once their leases ended", fmt.Sprintf("%d of %d, the first %v after the kill", k.Repulled, k.Leases, k.FirstRepull.Round(time.Millisecond)),
			fmt.Sprintf("leases ended %v to %v after the kill", k.FirstEnd.Round(time.Millisecond), k.LastEnd.Round(time.Millisecond)), !r.earlyRepull)
	}
	row("queue invariants at the end", cmpText(r.Invariants, "hold"), "hold", r.Invariants == "")
	b.WriteString("\n")
	if k := r.Kill; k != nil {
		fmt.Fprintf(&b, "Worker %d was SIGKILLed at +%.1fs holding %d leases, %v after it was asked to hold all its handlers. ", k.Pid, k.At.Seconds(), k.Leases, k.Hold.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "The longest from a pull to its handler's start: %v.\n", r.MaxLag)
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\nFAILED: %s", f)
	}
	if len(r.Failures) > 0 {
		b.WriteString("\n")
	}
	if r.LogDir != "" {
		fmt.Fprintf(&b, "\nworkers' logs: %s\n", r.LogDir)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cmpText(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}
