package cli

import (
	"context"
	"flag"
	"maps"
	"slices"
	"strconv"

	"github.com/fairwayhq/fairway/broker"
)

// queueRow is one queue in "fairway queues".
type queueRow struct {
	Queue   string `json:"queue"`
	Pattern string `json:"pattern"`
	broker.QueueStats
}

var queuesCmd = &command{
	name: "queues", summary: "list registered queues with their pattern and counts",
	help: "Columns: ready, in flight (leased), delayed (retries and delays), dead letters, and\nfacets with ready messages.",
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
				out = append(out, []string{r.Queue, r.Pattern, itoa(r.Ready), itoa(r.InFlight),
					itoa(r.Delayed), itoa(r.Dead), itoa(r.Facets), state(r.QueueStats)})
			}
			if len(out) == 0 {
				return a.say(rows, "no queues registered in namespace %q (register one with 'fairway register QUEUE PATTERN')", a.namespace)
			}
			return a.table("QUEUE PATTERN READY IN-FLIGHT DELAYED DEAD FACETS STATE", out)
		}
	},
}

// queueRows reads every registered queue's stats, sorted by name.
func (a *app) queueRows(ctx context.Context) ([]queueRow, error) {
	b, err := a.broker(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	qs, err := b.Queues(ctx)
	if err != nil {
		return nil, err
	}
	rows := []queueRow{}
	for _, q := range slices.Sorted(maps.Keys(qs)) {
		st, err := b.Stats(ctx, q)
		if err != nil {
			return nil, err
		}
		rows = append(rows, queueRow{Queue: q, Pattern: qs[q], QueueStats: st})
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
	name: "stats", args: "QUEUE", summary: "show one queue's counts, limit and state",
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "QUEUE"); err != nil {
				return err
			}
			b, err := a.broker(ctx)
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			st, err := b.Stats(ctx, args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(queueRow{Queue: args[0], QueueStats: st})
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
			})
		}
	},
}

var facetsCmd = &command{
	name: "facets", args: "QUEUE [--top N]", summary: "list the facets with the largest backlogs",
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		top := fs.Int("top", 20, "how many facets to show, largest backlog first")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "QUEUE"); err != nil {
				return err
			}
			b, err := a.broker(ctx)
			if err != nil {
				return err
			}
			ctx, cancel := a.opCtx(ctx)
			defer cancel()
			if _, err := b.Stats(ctx, args[0]); err != nil {
				return err
			}
			fs, err := b.TopFacets(ctx, args[0], *top)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(append([]broker.FacetStats{}, fs...))
			}
			var out [][]string
			for _, f := range fs {
				st := "active"
				if f.Paused || f.Priority == 0 {
					st = "paused"
				}
				out = append(out, []string{quoteIfNeeded(f.Facet), itoa(f.Ready), itoa(f.InFlight), strconv.Itoa(f.Priority), st})
			}
			return a.table("FACET READY IN-FLIGHT PRIORITY STATE", out)
		}
	},
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
