package limitbench

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// maxWindow is the most of ts (sorted, ms) that one window [t, t+per)
// holds, and the start of the first such window. A fullest window can
// always be made to start at one of ts, so trying each is exact.
func maxWindow(ts []int64, per int64) (most int, at int64) {
	end := 0
	for i, t := range ts {
		for end < len(ts) && ts[end] < t+per {
			end++
		}
		if end-i > most {
			most, at = end-i, t
		}
	}
	return most, at
}

// windowBound is the most pulls a window of r.Per may hold under r: N, and
// the burst beyond the first (see broker.RateLimit).
func windowBound(r broker.RateLimit) int { return r.N + max(r.Burst, 1) - 1 }

// analyze checks the records of a run against cfg and fills res.
func analyze(cfg Config, recs []record, res *Result) {
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.pulled, b.pulled) })
	res.Pulls = len(recs)
	if len(recs) == 0 {
		res.fail("no pull was recorded")
		return
	}
	res.First = recs[0].pulled
	res.Span = time.Duration(recs[len(recs)-1].pulled-recs[0].pulled) * time.Millisecond
	if res.Span > 0 {
		res.Rate = float64(len(recs)-1) / res.Span.Seconds()
	}
	checkQueueRate(cfg, recs, res)
	checkFacetRates(cfg, recs, res)
	checkCap(cfg, recs, res)
	checkFairness(recs, res)
	checkComplete(recs, res)
	want := float64(cfg.QueueRate.N) / cfg.QueueRate.Per.Seconds()
	res.RateWanted = want
	if res.Rate < cfg.MinRate*want {
		res.fail("(d) %.1f pulls a second, below %.0f%% of the queue's rate of %.0f", res.Rate, 100*cfg.MinRate, want)
	}
}

func checkQueueRate(cfg Config, recs []record, res *Result) {
	ts := make([]int64, len(recs))
	for i, r := range recs {
		ts[i] = r.pulled
	}
	res.QueueBound = windowBound(cfg.QueueRate)
	var at int64
	res.QueueMax, at = maxWindow(ts, cfg.QueueRate.Per.Milliseconds())
	if res.QueueMax > res.QueueBound {
		res.fail("(a) %d pulls of the queue within %v from %s; its rate limit allows %d", res.QueueMax, cfg.QueueRate.Per, res.at(at), res.QueueBound)
	}
}

func checkFacetRates(cfg Config, recs []record, res *Result) {
	byFacet := make(map[string][]int64)
	for _, r := range recs {
		byFacet[r.facet] = append(byFacet[r.facet], r.pulled)
	}
	res.FacetBound = windowBound(cfg.FacetRate)
	per := cfg.FacetRate.Per.Milliseconds()
	for _, f := range slices.Sorted(maps.Keys(byFacet)) {
		most, at := maxWindow(byFacet[f], per)
		if f == floodFacet {
			res.FloodMax = most
		} else {
			res.SmallMax = max(res.SmallMax, most)
		}
		if most > res.FacetBound {
			res.fail("(b) %d pulls of facet %q within %v from %s; its rate limit allows %d", most, f, cfg.FacetRate.Per, res.at(at), res.FacetBound)
		}
	}
	if fl := byFacet[floodFacet]; len(fl) > 1 {
		res.FloodRate = float64(len(fl)-1) / (float64(fl[len(fl)-1]-fl[0]) / 1000)
	}
}

func checkCap(cfg Config, recs []record, res *Result) {
	for _, r := range recs {
		res.MaxRunning = max(res.MaxRunning, r.running)
		if r.running >= cfg.Cap {
			res.AtCap++
		}
		res.MaxLag = max(res.MaxLag, time.Duration(r.entered-r.pulled)*time.Millisecond)
		if r.running > cfg.Cap {
			res.fail("(c) %d handlers ran at once at %s (%s of facet %q started); the global cap is %d", r.running, res.at(r.entered), r.id, r.facet, cfg.Cap)
		}
	}
}

// checkFairness compares the pulls of the small facets, which all hold work
// throughout and are never held back by their own rate limit: round robin
// gives each one turn per rotation, so their counts differ by at most one.
func checkFairness(recs []record, res *Result) {
	count := make(map[string]int)
	for _, r := range recs {
		count[r.facet]++
	}
	res.FloodPulls = count[floodFacet]
	delete(count, floodFacet)
	res.SmallFacets = len(count)
	first := true
	for _, n := range count {
		if first || n < res.SmallMin {
			res.SmallMin = n
		}
		res.SmallMaxPulls = max(res.SmallMaxPulls, n)
		first = false
	}
	if res.SmallMaxPulls-res.SmallMin > 1 {
		res.fail("(e) the small facets were pulled %d to %d times each; round robin allows a difference of 1", res.SmallMin, res.SmallMaxPulls)
	}
}

// checkComplete checks that each message's pulls are on record, attempt
// after attempt: a pull missing from the records would make the other
// checks unsound.
func checkComplete(recs []record, res *Result) {
	attempts := make(map[string][]int)
	for _, r := range recs {
		attempts[r.id] = append(attempts[r.id], r.attempt)
		if r.attempt > 1 {
			res.Redelivered++
		}
	}
	for id, as := range attempts {
		slices.Sort(as)
		for i, a := range as {
			if a != i+1 {
				res.Unrecorded++
				res.fail("(f) message %s was pulled at attempts %v: a pull is missing from the records", id, as)
				break
			}
		}
	}
}

// at formats a time on Redis's clock (ms) as the time since the first pull.
func (r *Result) at(ms int64) string {
	return fmt.Sprintf("+%.3fs", float64(ms-r.First)/1000)
}
