package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/redis/go-redis/v9"
)

// Pull cost against active facets (Fairway only: asynq has no facets). For
// each number of facets, a queue is filled so that every facet still holds
// a message when the measurement ends, then facetPulls messages are pulled
// with PullN(facetsPerPull) and acked with AckMany, from one goroutine. The
// figures are the wall time per message (client, network and Redis) and
// Redis's own time in scripts per message (INFO commandstats).
const facetsPerPull = 10

func facetsComparison(s compareSizes) comparison {
	return comparison{
		name:  "facets",
		title: "6. pull cost vs active facets",
		rows:  facetRows(s.facetCounts),
		measure: measures{
			fairwaySys: func(ctx context.Context, e *env) (measurement, error) {
				m := measurement{}
				counts := slices.Clone(e.sizes.facetCounts)
				if e.round%2 == 1 { // alternate the order between rounds
					slices.Reverse(counts)
				}
				for _, n := range counts {
					c, err := pullCost(ctx, e, n)
					if err != nil {
						return nil, err
					}
					m[facetKey("wall", n)] = []float64{c.wall}
					m[facetKey("redis", n)] = []float64{c.redis}
					m[facetKey("mem", n)] = []float64{c.mem}
				}
				if all := e.sizes.facetCounts; len(all) > 1 {
					few, most := all[0], all[len(all)-1]
					m["perfacet"] = []float64{m[facetKey("mem", most)][0] - m[facetKey("mem", few)][0]}
				}
				return m, nil
			},
		},
	}
}

func facetKey(kind string, n int) string { return kind + "-" + strconv.Itoa(n) }

// facetRows are the rows of facetsComparison for the given facet counts:
// wall time, and Redis time, per message at each count (the largest
// count's wall time must be within 1.3× of the smallest's); memory per
// queued message at the smallest and the largest count, and their
// difference, the bytes each active facet costs.
func facetRows(counts []int) []rowSpec {
	var rows []rowSpec
	for i, n := range counts {
		r := rowSpec{key: facetKey("wall", n), metric: fmt.Sprintf("PullN(%d)+AckMany per message, %s facets", facetsPerPull, count(n)), unit: "µs"}
		if i == len(counts)-1 && i > 0 {
			r.targets = []target{relativeAtMost(facetKey("wall", counts[0]), 1.3, count(counts[0])+" facets")}
		}
		rows = append(rows, r)
	}
	for _, n := range counts {
		rows = append(rows, rowSpec{key: facetKey("redis", n), metric: fmt.Sprintf("of which Redis script time, %s facets", count(n)), unit: "µs"})
	}
	if len(counts) > 1 {
		few, most := counts[0], counts[len(counts)-1]
		for _, n := range []int{few, most} {
			rows = append(rows, rowSpec{key: facetKey("mem", n), metric: fmt.Sprintf("used_memory per queued message, %s facets", count(n)), unit: "bytes"})
		}
		rows = append(rows, rowSpec{
			key: "perfacet", unit: "bytes",
			metric:  fmt.Sprintf("bytes per active facet (per message at %s facets − at %s)", count(most), count(few)),
			targets: []target{fairwayAtMost(200, "bytes")},
		})
	}
	return rows
}

// facetFillBatch is the size of the DeliverBatch calls that fill the
// queue: large, so that a million facets load in seconds.
const facetFillBatch = 10_000

// facetCost is what pullCost measures at one number of facets.
type facetCost struct {
	wall, redis float64 // µs per message pulled and acked
	mem         float64 // used_memory per queued message, bytes
}

// pullCost fills a queue over n facets, then measures pulling and acking
// e.sizes.facetPulls messages: the wall time and the Redis script time
// per message, in microseconds, and the memory per queued message.
func pullCost(ctx context.Context, e *env, n int) (facetCost, error) {
	var c facetCost
	f, err := newFairway(ctx, e, "facets"+strconv.Itoa(n))
	if err != nil {
		return c, err
	}
	defer f.close()
	pulls := e.sizes.facetPulls
	// Pulls take facets in turn, so after p pulls no facet has lost more
	// than ceil(p/n) messages: one more keeps every facet active. With at
	// least as many facets as pulls, each facet holds one message: the
	// pulls empty pulls of them, and the others stay active.
	perFacet, activeAfter := (pulls+n-1)/n+1, n
	if n >= pulls {
		perFacet, activeAfter = 1, n-pulls
	}
	facets := make([]string, n)
	for i := range facets {
		facets[i] = "tenant-" + strconv.Itoa(i)
	}
	mem0, err := memoryInfo(ctx, f.rdb)
	if err != nil {
		return c, err
	}
	fill := time.Now()
	batch := make([]broker.Delivery, 0, facetFillBatch)
	for i := range perFacet * n {
		batch = append(batch, broker.Delivery{Topic: f.queue, Facet: facets[i%n], Body: body100})
		if len(batch) == facetFillBatch || i == perFacet*n-1 {
			if err := f.b.DeliverBatch(ctx, batch); err != nil {
				return c, err
			}
			batch = batch[:0]
		}
	}
	filled := time.Since(fill)
	mem1, err := memoryInfo(ctx, f.rdb)
	if err != nil {
		return c, err
	}
	// Connections' buffers and the script cache are not the messages'.
	grew := mem1["used_memory"] - mem0["used_memory"] -
		(mem1["mem_clients_normal"] - mem0["mem_clients_normal"]) - (mem1["used_memory_scripts"] - mem0["used_memory_scripts"])
	c.mem = float64(grew) / float64(perFacet*n)
	script0, err := scriptMicros(ctx, f.rdb)
	if err != nil {
		return c, err
	}
	start := time.Now()
	for range pulls / facetsPerPull {
		ms, err := f.b.PullN(ctx, f.queue, facetsPerPull)
		if err != nil {
			return c, err
		}
		if len(ms) != facetsPerPull {
			return c, fmt.Errorf("pulled %d messages, want %d", len(ms), facetsPerPull)
		}
		if err := f.b.AckMany(ctx, ms); err != nil {
			return c, err
		}
	}
	took := time.Since(start)
	script1, err := scriptMicros(ctx, f.rdb)
	if err != nil {
		return c, err
	}
	st, err := f.b.Stats(ctx, f.queue)
	if err != nil {
		return c, err
	}
	if st.Facets != int64(activeAfter) {
		return c, fmt.Errorf("%d facets hold messages at the end, want %d", st.Facets, activeAfter)
	}
	c.wall = float64(took.Microseconds()) / float64(pulls)
	c.redis = float64(script1-script0) / float64(pulls)
	e.note("%d facets: filled %d messages in %v (%.1f bytes of used_memory each); pulled and acked %d in %v: %.1f µs each, %.1f µs of it in Redis scripts",
		n, perFacet*n, filled.Round(time.Millisecond), c.mem, pulls, took.Round(time.Millisecond), c.wall, c.redis)
	// Free the server's memory for the next size.
	return c, f.b.DestroyQueue(ctx, f.queue)
}

// scriptMicros is the microseconds Redis has spent running scripts (EVAL
// and EVALSHA, from INFO commandstats).
func scriptMicros(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, cmd := range []string{"cmdstat_eval", "cmdstat_evalsha"} {
		// cmdstat_evalsha:calls=3,usec=120,usec_per_call=40.00,...
		for field := range strings.SplitSeq(infoField(info, cmd), ",") {
			if v, ok := strings.CutPrefix(field, "usec="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("commandstats %s: %w", cmd, err)
				}
				total += n
			}
		}
	}
	return total, nil
}
