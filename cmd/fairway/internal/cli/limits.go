package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/fairwayhq/fairway/broker"
)

var limitCmd = &command{
	name: "limit", args: "QUEUE [FACET] [N | off | default]",
	summary: "show or set the most messages in flight per facet, the queue's or a facet's own",
	help: `Without N, shows the queue's in-flight limit per facet, strict order, and every
facet's own limit.

  fairway limit emails 2             every facet of emails: at most 2 leased at once
  fairway limit emails 0             no limit for the queue's facets
  fairway limit emails acme 10       facet acme: its own limit, whatever the queue's
  fairway limit emails acme off      facet acme: no limit, even under the queue's
  fairway limit emails acme default  facet acme: drop its own limit, the queue's applies

A facet at its limit gets no turn until one of its messages is acked, nacked or
expires. Strict order ('fairway order') makes every facet's limit 1.`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 3, "QUEUE [FACET] [N | off | default]"); err != nil {
				return err
			}
			queue := args[0]
			if len(args) == 1 {
				return a.showLimits(ctx, queue)
			}
			if len(args) == 2 {
				n, err := argInRange("limit", args[1], 0, broker.MaxLimit)
				if err != nil {
					return err
				}
				return a.act(ctx, func(ctx context.Context) error {
					return a.b.SetInflightLimit(ctx, queue, n)
				}, limitSetJSON{Queue: queue, InFlightLimit: &n},
					"queue %q now leases at most %d message(s) per facet at once (0: no limit)", queue, n)
			}
			facet := args[1]
			fv, err := parseFacetValue("limit", "in-flight limit", "message(s) in flight", facet, queue, args[2])
			if err != nil {
				return err
			}
			return a.act(ctx, func(ctx context.Context) error {
				if fv.n == nil {
					return a.b.ClearFacetInflightLimit(ctx, queue, facet)
				}
				return a.b.SetFacetInflightLimit(ctx, queue, facet, *fv.n)
			}, limitSetJSON{Queue: queue, Facet: facet, InFlightLimit: fv.n}, "%s", fv.said)
		}
	},
}

// facetValue is a facet's own setting as typed: a number, off (0: none,
// whatever the queue's) or default (n nil: the queue's applies), with what
// to say once it is set.
type facetValue struct {
	n    *int
	said string
}

// parseFacetValue reads v, the value of arg for facet of queue: setting
// names it in sentences, unit says what a number counts.
func parseFacetValue(arg, setting, unit, facet, queue, v string) (facetValue, error) {
	switch v {
	case "default":
		return facetValue{said: fmt.Sprintf("facet %q of queue %q: own %s dropped; the queue's applies", facet, queue, setting)}, nil
	case "off":
		n := 0
		return facetValue{n: &n, said: fmt.Sprintf("facet %q of queue %q: no %s, whatever the queue's", facet, queue, setting)}, nil
	}
	n, err := argInRange(arg, v, 0, broker.MaxLimit)
	if err != nil {
		return facetValue{}, err
	}
	return facetValue{n: &n, said: fmt.Sprintf("facet %q of queue %q: at most %d %s (0: none)", facet, queue, n, unit)}, nil
}

// showLimits prints a queue's in-flight limit, strict order and its facets'
// own limits.
func (a *app) showLimits(ctx context.Context, queue string) error {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	st, err := b.Stats(ctx, queue)
	if err != nil {
		return err
	}
	own, err := b.FacetInflightLimits(ctx, queue)
	if err != nil {
		return err
	}
	if a.json {
		out := limitJSON{Queue: queue, InFlightLimit: st.InflightLimit, StrictOrder: st.StrictOrder, Facets: []facetLimitJSON{}}
		for _, f := range slices.Sorted(maps.Keys(own)) {
			out.Facets = append(out.Facets, facetLimitJSON{Facet: f, InFlightLimit: own[f]})
		}
		return a.printJSON(out)
	}
	if st.StrictOrder {
		if err := a.say(nil, "queue %q: strict order: one message per facet at a time (limits below apply when it is off)", queue); err != nil {
			return err
		}
	}
	rows := [][]string{{"(queue)", limitText(st.InflightLimit)}}
	for _, f := range slices.Sorted(maps.Keys(own)) {
		rows = append(rows, []string{quoteIfNeeded(f), limitText(int64(own[f]))})
	}
	return a.table("FACET IN-FLIGHT-LIMIT", rows)
}

var orderCmd = &command{
	name: "order", args: "QUEUE [strict | off]",
	summary: "show or set strict order per facet: one message at a time, in order, retries first",
	help: `Under strict order a facet's next message is not leased while an earlier one of the
same facet is leased or waiting for its retry, so each tenant's messages run one at
a time in the order they were queued, even across retries and crashes. Other facets
are not held up. It overrides every in-flight limit with 1 while it is on.`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 2, "QUEUE [strict | off]"); err != nil {
				return err
			}
			queue := args[0]
			if len(args) == 1 {
				b, ctx, cancel, err := a.brokerOp(ctx)
				if err != nil {
					return err
				}
				defer cancel()
				st, err := b.Stats(ctx, queue)
				if err != nil {
					return err
				}
				return a.say(orderJSON{Queue: queue, StrictOrder: st.StrictOrder}, "queue %q: %s", queue, orderText(st.StrictOrder))
			}
			var on bool
			switch args[1] {
			case "strict":
				on = true
			case "off":
			default:
				return usageError{fmt.Sprintf("order %q is neither strict nor off", args[1])}
			}
			return a.act(ctx, func(ctx context.Context) error {
				return a.b.SetStrictOrder(ctx, queue, on)
			}, orderJSON{Queue: queue, StrictOrder: on}, "queue %q: %s", queue, orderText(on))
		}
	},
}

func orderText(on bool) string {
	if on {
		return "strict order: one message per facet at a time, in order, retries first"
	}
	return "no strict order: facets run up to their in-flight limits"
}

var concurrencyCmd = queueNumber{
	name: "concurrency", summary: "show or set the most messages of the queue leased at once over every worker (0: no cap)",
	help: `A global cap, across every worker process: at most N handlers of the queue run
anywhere, on top of each worker's own Concurrency and QueueConcurrency. It is kept
with the queue's leases on Redis, so a crashed worker's slots come back when its
leases end. A partitioned queue gives each partition its share, so N must be at
least its partition count.`,
	max:  broker.MaxLimit,
	set:  (*broker.Broker).SetGlobalConcurrency,
	of:   func(st broker.QueueStats) int64 { return st.GlobalConcurrency },
	json: func(q string, n int64) any { return concurrencyJSON{Queue: q, GlobalConcurrency: n} },
	said: func(q string, n int64) string {
		if n == 0 {
			return fmt.Sprintf("queue %q: no global cap on messages in flight", q)
		}
		return fmt.Sprintf("queue %q now leases at most %d message(s) at once over every worker", q, n)
	},
	shown: func(q string, n int64) string {
		if n == 0 {
			return fmt.Sprintf("queue %q: no global cap (set one with 'fairway concurrency %s N')", q, q)
		}
		return fmt.Sprintf("queue %q: at most %d message(s) in flight at once over every worker", q, n)
	},
}.command()
