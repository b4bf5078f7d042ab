package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

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
				out = append(out, []string{r.Queue, patternText(r.Pattern), itoa(r.Ready), itoa(r.InFlight),
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
func (a *app) queueRows(ctx context.Context) ([]queueJSON, error) {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	qs, err := b.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	rows := []queueJSON{}
	for _, q := range qs {
		st, err := b.Stats(ctx, q.Name)
		if errors.Is(err, broker.ErrUnknownQueue) {
			continue // destroyed since it was listed
		}
		if err != nil {
			return nil, err
		}
		var pattern *string
		if q.Routed {
			pattern = &q.Pattern
		}
		row := toQueueJSON(q.Name, pattern, st)
		row.Partitions = q.Partitions
		rows = append(rows, row)
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
number of facets waiting for their rate limit to let them be pulled again;
queue-rate-limit is the limit of all facets together ('fairway ratelimit
--whole-queue'), global-concurrency the most leased at once over every worker
('fairway concurrency'), strict-order whether each facet runs one message at a
time ('fairway order'), own-in-flight-limits how many facets have an in-flight limit
of their own ('fairway limit QUEUE FACET N'). ttl is the queue's default time to
live ('fairway ttl'), expired the messages that reached their turn after it and were
dead-lettered or dropped, as expiry-policy says. backlog-cap is the most ready
messages per facet and queue-cap the most messages of the queue ('fairway cap'),
backlog-policy what a delivery past a facet's cap does, and dropped how many ready
messages were dead-lettered to make room under the drop policy.`,
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
			qs, err := b.Queues(ctx)
			if err != nil {
				return err
			}
			var pattern *string
			if p, ok := qs[args[0]]; ok {
				pattern = &p
			}
			if a.json {
				return a.printJSON(toQueueJSON(args[0], pattern, st))
			}
			return a.table("FIELD VALUE", [][]string{
				{"queue", args[0]}, {"pattern", patternText(pattern)}, {"state", state(st)},
				{"ready", itoa(st.Ready)}, {"in-flight", itoa(st.InFlight)},
				{"delayed", itoa(st.Delayed)}, {"dead", itoa(st.Dead)},
				{"facets", itoa(st.Facets)}, {"max-attempts", maxAttemptsText(st.MaxAttempts)},
				{"in-flight-limit", limitText(st.InflightLimit)}, {"own-in-flight-limits", itoa(st.OwnInflightLimits)},
				{"strict-order", strconv.FormatBool(st.StrictOrder)},
				{"global-concurrency", limitText(st.GlobalConcurrency)},
				{"rate-limit", st.RateLimit.String()}, {"rate-limited", itoa(st.RateLimited)},
				{"queue-rate-limit", st.QueueRateLimit.String()},
				{"ttl", ttlTableText(st.MessageTTL)}, {"expiry-policy", st.ExpiryPolicy.String()},
				{"expired", itoa(st.Expired)},
				{"backlog-cap", limitText(st.BacklogLimit)}, {"own-backlog-caps", itoa(st.OwnBacklogLimits)},
				{"queue-cap", limitText(st.QueueBacklogLimit)}, {"backlog-policy", st.BacklogPolicy.String()},
				{"dropped", itoa(st.Dropped)},
			})
		}
	},
}

var facetsCmd = &command{
	name: "facets", args: "QUEUE [FACET] [--top N]", summary: "list the facets with the largest backlogs, or show one facet",
	help: `Columns: ready, in flight, priority, state (active or paused), the rate limit that
applies (the queue's default, or the facet's own, marked "(own)"; "off (own)" is a
facet exempt from the default), and until when the rate limit holds the facet back
(UTC, on Redis's clock), or "-". With FACET, shows that one facet; a facet with no
messages and no settings of its own is not found (exit 3).`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		top := fs.Int("top", 20, "how many facets to show, largest backlog first")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 2, "QUEUE [FACET]"); err != nil {
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
			if len(args) == 2 {
				return a.showFacet(ctx, b, args[0], args[1])
			}
			fs, err := b.TopFacets(ctx, args[0], *top)
			if err != nil {
				return err
			}
			if a.json {
				rows := []facetJSON{}
				for _, f := range fs {
					rows = append(rows, toFacetJSON(args[0], f))
				}
				return a.printJSON(rows)
			}
			now := time.Now()
			var out [][]string
			for _, f := range fs {
				out = append(out, []string{quoteIfNeeded(f.Facet), itoa(f.Ready), itoa(f.InFlight), strconv.Itoa(f.Priority), facetState(f),
					rateText(f), untilText(f.RateLimitedUntil, now), inflightText(f), backlogCapText(f)})
			}
			if len(out) == 0 {
				return a.say(nil, "no facet of queue %q has ready messages", args[0])
			}
			return a.table("FACET READY IN-FLIGHT PRIORITY STATE RATE-LIMIT LIMITED-UNTIL IN-FLIGHT-LIMIT BACKLOG-CAP", out)
		}
	},
}

// showFacet prints one facet of queue; a facet Redis knows nothing of (no
// messages ready or in flight, no settings of its own) is not found.
func (a *app) showFacet(ctx context.Context, b *broker.Broker, queue, facet string) error {
	f, err := b.Facet(ctx, queue, facet)
	if err != nil {
		return err
	}
	if f.Ready == 0 && f.InFlight == 0 && f.Priority == 1 && !f.Paused && !f.OwnRateLimit && f.RateLimitedUntil.IsZero() && !f.OwnInflightLimit && !f.OwnBacklogLimit {
		return fmt.Errorf("%w: queue %q has no facet %q: no messages ready or in flight, and no settings of its own (run 'fairway facets %s' to list its facets)",
			errNotFound, queue, facet, queue)
	}
	if a.json {
		return a.printJSON(toFacetJSON(queue, f))
	}
	return a.table("FIELD VALUE", [][]string{
		{"queue", queue}, {"facet", quoteIfNeeded(f.Facet)}, {"state", facetState(f)},
		{"ready", itoa(f.Ready)}, {"in-flight", itoa(f.InFlight)}, {"priority", strconv.Itoa(f.Priority)},
		{"rate-limit", rateText(f)}, {"limited-until", untilText(f.RateLimitedUntil, time.Now())},
		{"in-flight-limit", inflightText(f)}, {"backlog-cap", backlogCapText(f)},
	})
}

// inflightText is a facet's in-flight limit for tables: "2" from the
// queue's, "5 (own)" or "none (own)" for its own.
func inflightText(f broker.FacetStats) string {
	if f.OwnInflightLimit {
		return limitText(int64(f.InflightLimit)) + " (own)"
	}
	return limitText(int64(f.InflightLimit))
}

// backlogCapText is a facet's backlog cap for tables, as inflightText.
func backlogCapText(f broker.FacetStats) string {
	if f.OwnBacklogLimit {
		return limitText(int64(f.BacklogLimit)) + " (own)"
	}
	return limitText(int64(f.BacklogLimit))
}

// facetState is active, or paused (by PauseFacet or priority 0).
func facetState(f broker.FacetStats) string {
	if f.Paused || f.Priority == 0 {
		return "paused"
	}
	return "active"
}

// patternText is a queue's pattern for tables, or "-" when it is not
// routed.
func patternText(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

// maxAttemptsText is a queue's default budget in the stats table.
func maxAttemptsText(n int64) string {
	if n > 0 {
		return itoa(n)
	}
	return "producer's default"
}

// limitText is an in-flight limit for tables: the number, or "none".
func limitText(n int64) string {
	if n > 0 {
		return itoa(n)
	}
	return "none"
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
