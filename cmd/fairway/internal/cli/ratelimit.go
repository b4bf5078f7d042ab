package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/ratespec"
)

// rateText is a facet's effective rate limit for tables: "10/1s" from the
// queue's default, "10/1s (own)" or "off (own)" for its own; as typed.
func rateText(f broker.FacetStats) string {
	if f.OwnRateLimit {
		return f.RateLimit.String() + " (own)"
	}
	return f.RateLimit.String()
}

// untilText is when a rate-limited facet frees up, or "-".
func untilText(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (in %v)", t.UTC().Format("15:04:05.000"), max(t.Sub(now), 0).Round(time.Millisecond))
}

var rateLimitCmd = &command{
	name: "ratelimit", args: "QUEUE [FACET] [N/PERIOD[,BURST] | off | default]",
	summary: "show or set a queue's default or a facet's own rate limit",
	help: `Without a limit, shows the queue's default rate limit and every facet's own.

  fairway ratelimit emails 10/1s         every facet of emails: at most 10 pulls a second
  fairway ratelimit emails 600/1m,20     600 a minute, up to 20 at once after an idle spell
  fairway ratelimit emails off           no default limit
  fairway ratelimit emails acme 5/1s     facet acme: its own limit, whatever the default
  fairway ratelimit emails acme off      facet acme: no limit, even under a default
  fairway ratelimit emails acme default  facet acme: drop its own limit, the default applies
  fairway ratelimit --whole-queue emails 100/1s
                                         all facets of emails together: at most 100 a second

PERIOD is a Go duration in whole milliseconds (500ms, 1s, 1m, 1h; "s" alone is 1s),
at most 366 days. BURST (default 1) is at most N. A facet over its limit gives its
turn to the next facet; the limit is kept on Redis's clock. The whole queue's limit
is spent only by messages pulled: a facet held back by its own limit spends none of
it, and the facets with work share it in turn.`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		whole := fs.Bool("whole-queue", false, "set the limit of the whole queue, all facets together, on top of theirs: ratelimit --whole-queue QUEUE N/PERIOD[,BURST] | off")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 3, "QUEUE [FACET] [N/PERIOD[,BURST] | off | default]"); err != nil {
				return err
			}
			if len(args) == 1 {
				return a.showRateLimits(ctx, args[0])
			}
			queue, spec := args[0], args[len(args)-1]
			r, err := ratespec.Parse(spec)
			if err != nil {
				return usageError{err.Error()}
			}
			rate := toRateJSON(r.Limit)
			out := rateSetJSON{Queue: queue, RateLimit: &rate}
			if *whole {
				if len(args) != 2 || r.Default {
					return usageError{"--whole-queue takes QUEUE and a limit (N/PERIOD[,BURST] or off), no facet"}
				}
				out.WholeQueue = true
				return a.act(ctx, func(ctx context.Context) error {
					return a.b.SetQueueRateLimit(ctx, queue, r.Limit)
				}, out, "queue %q: rate limit of all facets together is now %s", queue, r.Limit.String())
			}
			if len(args) == 2 {
				if r.Default {
					return usageError{"'default' only applies to a facet: use 'fairway ratelimit QUEUE FACET default'; 'off' removes the queue's default"}
				}
				return a.act(ctx, func(ctx context.Context) error {
					return a.b.SetRateLimit(ctx, queue, r.Limit)
				}, out, "queue %q: default rate limit per facet is now %s", queue, r.Limit.String())
			}
			facet := args[1]
			out.Facet = facet
			msg := fmt.Sprintf("facet %q of queue %q: own rate limit is now %s", facet, queue, r.Limit.String())
			switch {
			case r.Default:
				out.RateLimit = nil
				msg = fmt.Sprintf("facet %q of queue %q: own rate limit dropped; the queue's default applies", facet, queue)
			case r.Limit.IsZero():
				msg = fmt.Sprintf("facet %q of queue %q: no rate limit, whatever the queue's default", facet, queue)
			}
			return a.act(ctx, func(ctx context.Context) error {
				if _, err := a.b.Stats(ctx, queue); err != nil {
					return err
				}
				if r.Default {
					return a.b.ClearFacetRateLimit(ctx, queue, facet)
				}
				return a.b.SetFacetRateLimit(ctx, queue, facet, r.Limit)
			}, out, "%s", msg)
		}
	},
}

// showRateLimits prints a queue's default rate limit and its facets' own.
func (a *app) showRateLimits(ctx context.Context, queue string) error {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	st, err := b.Stats(ctx, queue)
	if err != nil {
		return err
	}
	own, err := b.FacetRateLimits(ctx, queue)
	if err != nil {
		return err
	}
	if a.json {
		out := rateShowJSON{Queue: queue, Default: toRateJSON(st.RateLimit), WholeQueue: toRateJSON(st.QueueRateLimit), RateLimited: st.RateLimited, Facets: []facetRateJSON{}}
		for _, f := range slices.Sorted(maps.Keys(own)) {
			out.Facets = append(out.Facets, facetRateJSON{Facet: f, RateLimit: toRateJSON(own[f])})
		}
		return a.printJSON(out)
	}
	rows := [][]string{{"(whole queue)", st.QueueRateLimit.String()}, {"(default)", st.RateLimit.String()}}
	for _, f := range slices.Sorted(maps.Keys(own)) {
		rows = append(rows, []string{quoteIfNeeded(f), own[f].String()})
	}
	return a.table("FACET RATE-LIMIT", rows)
}
