package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/fairwayhq/fairway/broker"
)

var capCmd = &command{
	name: "cap", args: "[--whole-queue | --policy refuse|drop] QUEUE [FACET] [N | off | default]",
	summary: "show or set admission control: the most ready messages per facet, or in the whole queue",
	help: `Without N, shows the queue's backlog cap per facet, its cap on all its messages,
the policy, how many messages were dropped, and every facet's own cap.

  fairway cap emails 1000              every facet of emails: at most 1000 ready
  fairway cap emails 0                 no cap for the queue's facets
  fairway cap emails acme 50000        facet acme: its own cap, whatever the queue's
  fairway cap emails acme off          facet acme: no cap, even under the queue's
  fairway cap emails acme default      facet acme: drop its own cap, the queue's applies
  fairway cap --whole-queue emails 1000000
                                       emails holds at most a million messages
                                       (ready, delayed and leased; 0: no cap)
  fairway cap --policy drop emails     a facet past its cap drops its oldest ready
                                       messages to the dead letters (default: refuse)

A delivery past a cap is refused, with nothing of it written: the producer gets an
error (exit 1, JSON code backlog_full from 'fairway deliver'). Under the drop policy
a facet's cap takes the delivery and dead-letters the facet's oldest ready messages
instead, with the reason "backlog full: ..."; the whole queue's cap always refuses.`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		whole := fs.Bool("whole-queue", false, "set the cap on all the queue's messages, not a facet's: cap --whole-queue QUEUE N")
		policy := fs.String("policy", "", "set what a delivery past a facet's cap does: refuse (the default) or drop (the oldest ready messages)")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 3, "QUEUE [FACET] [N | off | default]"); err != nil {
				return err
			}
			queue := args[0]
			switch {
			case *policy != "" && *whole:
				return usageError{"--policy and --whole-queue are separate settings: give one"}
			case *policy != "":
				if len(args) != 1 {
					return usageError{"--policy takes QUEUE only: cap --policy refuse|drop QUEUE"}
				}
				p, err := broker.ParseBacklogPolicy(*policy)
				if err != nil {
					return usageError{fmt.Sprintf("policy %q is neither refuse nor drop", *policy)}
				}
				return a.act(ctx, func(ctx context.Context) error {
					return a.b.SetBacklogPolicy(ctx, queue, p)
				}, capSetJSON{Queue: queue, Policy: p.String()}, "queue %q: %s", queue, backlogPolicyText(p))
			case *whole:
				if len(args) != 2 {
					return usageError{"--whole-queue takes QUEUE and N (0 or off: no cap), no facet"}
				}
				n, err := capArg(args[1])
				if err != nil {
					return err
				}
				return a.act(ctx, func(ctx context.Context) error {
					return a.b.SetQueueBacklogLimit(ctx, queue, n)
				}, capSetJSON{Queue: queue, QueueCap: &n, WholeQueue: true}, "%s", queueCapText(queue, n))
			}
			if len(args) == 1 {
				return a.showCaps(ctx, queue)
			}
			if len(args) == 2 {
				n, err := capArg(args[1])
				if err != nil {
					return err
				}
				return a.act(ctx, func(ctx context.Context) error {
					return a.b.SetBacklogLimit(ctx, queue, n)
				}, capSetJSON{Queue: queue, BacklogCap: &n},
					"queue %q: each facet holds at most %d ready message(s) (0: no cap)", queue, n)
			}
			facet := args[1]
			fv, err := parseFacetValue("cap", "backlog cap", "ready message(s)", facet, queue, args[2])
			if err != nil {
				return err
			}
			return a.act(ctx, func(ctx context.Context) error {
				if fv.n == nil {
					return a.b.ClearFacetBacklogLimit(ctx, queue, facet)
				}
				return a.b.SetFacetBacklogLimit(ctx, queue, facet, *fv.n)
			}, capSetJSON{Queue: queue, Facet: facet, BacklogCap: fv.n}, "%s", fv.said)
		}
	},
}

// capArg reads a cap: a count, or "off" for none.
func capArg(v string) (int, error) {
	if v == "off" {
		return 0, nil
	}
	return argInRange("cap", v, 0, broker.MaxLimit)
}

func backlogPolicyText(p broker.BacklogPolicy) string {
	if p == broker.BacklogDropOldest {
		return "a delivery past a facet's cap drops the facet's oldest ready messages to the dead letters"
	}
	return "a delivery past a facet's cap is refused"
}

func queueCapText(queue string, n int) string {
	if n == 0 {
		return fmt.Sprintf("queue %q: no cap on its messages", queue)
	}
	return fmt.Sprintf("queue %q holds at most %d message(s), ready, delayed and leased; more are refused", queue, n)
}

// showCaps prints a queue's admission control and its facets' own caps.
func (a *app) showCaps(ctx context.Context, queue string) error {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	st, err := b.Stats(ctx, queue)
	if err != nil {
		return err
	}
	own, err := b.FacetBacklogLimits(ctx, queue)
	if err != nil {
		return err
	}
	if a.json {
		out := capJSON{Queue: queue, BacklogCap: st.BacklogLimit, QueueCap: st.QueueBacklogLimit,
			Policy: st.BacklogPolicy.String(), Dropped: st.Dropped, Facets: []facetCapJSON{}}
		for _, f := range slices.Sorted(maps.Keys(own)) {
			out.Facets = append(out.Facets, facetCapJSON{Facet: f, BacklogCap: own[f]})
		}
		return a.printJSON(out)
	}
	if err := a.say(nil, "%s; %s; %d dropped so far", queueCapText(queue, int(st.QueueBacklogLimit)), backlogPolicyText(st.BacklogPolicy), st.Dropped); err != nil {
		return err
	}
	rows := [][]string{{"(queue)", limitText(st.BacklogLimit)}}
	for _, f := range slices.Sorted(maps.Keys(own)) {
		rows = append(rows, []string{quoteIfNeeded(f), limitText(int64(own[f]))})
	}
	return a.table("FACET BACKLOG-CAP", rows)
}
