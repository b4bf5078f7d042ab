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
					wall, redis, err := pullCost(ctx, e, n)
					if err != nil {
						return nil, err
					}
					m[facetKey("wall", n)] = []float64{wall}
					m[facetKey("redis", n)] = []float64{redis}
				}
				return m, nil
			},
		},
	}
}

func facetKey(kind string, n int) string { return kind + "-" + strconv.Itoa(n) }

// facetRows are the rows of facetsComparison for the given facet counts:
// wall time, and Redis time, per message at each count; the largest count's
// wall time must be within 1.3× of the smallest's.
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
	return rows
}

// pullCost fills a queue over n facets, then measures pulling and acking
// e.sizes.facetPulls messages, and returns the wall time and the Redis
// script time per message, in microseconds.
func pullCost(ctx context.Context, e *env, n int) (wall, redisTime float64, err error) {
	f, err := newFairway(ctx, e, "facets"+strconv.Itoa(n))
	if err != nil {
		return 0, 0, err
	}
	defer f.close()
	pulls := e.sizes.facetPulls
	// Pulls take facets in turn, so after p pulls no facet has lost more
	// than ceil(p/n) messages: one more keeps every facet active.
	perFacet := (pulls+n-1)/n + 1
	facets := make([]string, n)
	for i := range facets {
		facets[i] = "tenant-" + strconv.Itoa(i)
	}
	fill := time.Now()
	batch := make([]broker.Delivery, 0, e2eBatch)
	for i := range perFacet * n {
		batch = append(batch, broker.Delivery{Topic: f.queue, Facet: facets[i%n], Body: body100})
		if len(batch) == e2eBatch || i == perFacet*n-1 {
			if err := f.b.DeliverBatch(ctx, batch); err != nil {
				return 0, 0, err
			}
			batch = batch[:0]
		}
	}
	filled := time.Since(fill)
	script0, err := scriptMicros(ctx, f.rdb)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for range pulls / facetsPerPull {
		ms, err := f.b.PullN(ctx, f.queue, facetsPerPull)
		if err != nil {
			return 0, 0, err
		}
		if len(ms) != facetsPerPull {
			return 0, 0, fmt.Errorf("pulled %d messages, want %d", len(ms), facetsPerPull)
		}
		if err := f.b.AckMany(ctx, ms); err != nil {
			return 0, 0, err
		}
	}
	took := time.Since(start)
	script1, err := scriptMicros(ctx, f.rdb)
	if err != nil {
		return 0, 0, err
	}
	st, err := f.b.Stats(ctx, f.queue)
	if err != nil {
		return 0, 0, err
	}
	if st.Facets != int64(n) {
		return 0, 0, fmt.Errorf("%d facets hold messages at the end, want all %d", st.Facets, n)
	}
	wall = float64(took.Microseconds()) / float64(pulls)
	redisTime = float64(script1-script0) / float64(pulls)
	e.note("%d facets: filled %d messages in %v; pulled and acked %d in %v: %.1f µs each, %.1f µs of it in Redis scripts",
		n, perFacet*n, filled.Round(time.Millisecond), pulls, took.Round(time.Millisecond), wall, redisTime)
	// Free the server's memory for the next size.
	return wall, redisTime, f.b.DestroyQueue(ctx, f.queue)
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
