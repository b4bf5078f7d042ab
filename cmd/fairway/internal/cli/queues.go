package cli

import (
	"context"
	"errors"
	"flag"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// queueRow is one queue in "fairway queues" and "fairway stats".
type queueRow struct {
	Queue   string `json:"queue"`
	Pattern string `json:"pattern"`
	broker.QueueStats
	// Rate is QueueStats.RateLimit in plain units and as text.
	Rate rateJSON `json:"rate_limit"`
	// Partitions is how many partitions new messages are spread over.
	Partitions int `json:"partitions,omitempty"`
	// State is active, paused or unrouted, as the STATE column.
	State string `json:"state"`
}

var queuesCmd = &command{
	name: "queues", summary: "list the queues, registered or not, with their pattern and counts",
	help: `Columns: ready, in flight (leased), delayed (retries and delays), dead letters,
facets with ready messages, and state: active, paused ('fairway pause') or unrouted
(unregistered: deliveries no longer reach it, and what it holds stays until pulled or
'fairway destroy QUEUE'). An unrouted queue has no pattern ("-").`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			rows, err := a.queueRows(ctx)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(rows)
			}
			var out [][]string
			for _, r := range rows {
				pattern := r.Pattern
				if !r.Routed {
					pattern = "-"
				}
				out = append(out, []string{r.Queue, pattern, itoa(r.Ready), itoa(r.InFlight),
					itoa(r.Delayed), itoa(r.Dead), itoa(r.Facets), r.State})
			}
			if len(out) == 0 {
				return a.say(rows, "no queues in namespace %q (register one with 'fairway register QUEUE PATTERN')", a.namespace)
			}
			return a.table("QUEUE PATTERN READY IN-FLIGHT DELAYED DEAD FACETS STATE", out)
		}
	},
}

// queueRows reads the stats of every queue, registered or not
// (broker.ListQueues), sorted by name.
func (a *app) queueRows(ctx context.Context) ([]queueRow, error) {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	qs, err := b.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	rows := []queueRow{}
	for _, q := range qs {
		st, err := b.Stats(ctx, q.Name)
		if errors.Is(err, broker.ErrUnknownQueue) {
			continue // destroyed since it was listed
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, queueRow{Queue: q.Name, Pattern: q.Pattern, QueueStats: st, Rate: toRateJSON(st.RateLimit),
			Partitions: q.Partitions, State: state(st)})
	}
	return rows, nil
}

func state(s broker.QueueStats) string {
	switch {
	case s.Paused:
		return "paused"
	case !s.Routed:
		return "unrouted"
	}
	return "active"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var statsCmd = &command{
	name: "stats", args: "QUEUE", summary: "show one queue's counts, limits and state",
	help: `State is active, paused (by 'fairway pause') or unrouted (unregistered). rate-limit is
the queue's default rate limit per facet ('fairway ratelimit'), and rate-limited the
number of facets waiting for their rate limit to let them be pulled again.`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "QUEUE"); err != nil {
				return err
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			st, err := b.Stats(ctx, args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(queueRow{Queue: args[0], QueueStats: st, Rate: toRateJSON(st.RateLimit), State: state(st)})
			}
			limit := "none"
			if st.InflightLimit > 0 {
				limit = itoa(st.InflightLimit)
			}
			return a.table("FIELD VALUE", [][]string{
				{"queue", args[0]}, {"state", state(st)},
				{"ready", itoa(st.Ready)}, {"in-flight", itoa(st.InFlight)},
				{"delayed", itoa(st.Delayed)}, {"dead", itoa(st.Dead)},
				{"facets", itoa(st.Facets)}, {"in-flight-limit", limit},
				{"rate-limit", st.RateLimit.String()}, {"rate-limited", itoa(st.RateLimited)},
			})
		}
	},
}

var facetsCmd = &command{
	name: "facets", args: "QUEUE [--top N]", summary: "list the facets with the largest backlogs",
	help: `Columns: ready, in flight, priority, state (active or paused), the rate limit that
applies (the queue's default, or the facet's own, marked "(own)"; "none (own)" is a
facet exempt from the default), and until when the rate limit holds the facet back
(UTC, on Redis's clock), or "-".`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		top := fs.Int("top", 20, "how many facets to show, largest backlog first")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "QUEUE"); err != nil {
				return err
			}
			if err := flagInRange("top", *top, 1, math.MaxInt); err != nil {
				return err
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			if _, err := b.Stats(ctx, args[0]); err != nil {
				return err
			}
			fs, err := b.TopFacets(ctx, args[0], *top)
			if err != nil {
				return err
			}
			if a.json {
				rows := []facetRow{}
				for _, f := range fs {
					rows = append(rows, facetRow{FacetStats: f, Rate: toRateJSON(f.RateLimit), LimitedUntil: timeOrNil(f.RateLimitedUntil)})
				}
				return a.printJSON(rows)
			}
			now := time.Now()
			var out [][]string
			for _, f := range fs {
				st := "active"
				if f.Paused || f.Priority == 0 {
					st = "paused"
				}
				out = append(out, []string{quoteIfNeeded(f.Facet), itoa(f.Ready), itoa(f.InFlight), strconv.Itoa(f.Priority), st,
					rateText(f), untilText(f.RateLimitedUntil, now)})
			}
			return a.table("FACET READY IN-FLIGHT PRIORITY STATE RATE-LIMIT LIMITED-UNTIL", out)
		}
	},
}

// facetRow is one facet in "fairway facets --json".
type facetRow struct {
	broker.FacetStats
	// Rate is FacetStats.RateLimit in plain units and as text.
	Rate rateJSON `json:"rate_limit"`
	// LimitedUntil is RateLimitedUntil, or null when not held back.
	LimitedUntil *time.Time `json:"rate_limited_until"`
}

// quoteIfNeeded quotes names with spaces or control characters, so that
// tables stay aligned and terminals safe.
func quoteIfNeeded(s string) string {
	q := strconv.Quote(s)
	if q[1:len(q)-1] != s || s == "" || slices.Contains([]byte(s), ' ') {
		return q
	}
	return s
}
