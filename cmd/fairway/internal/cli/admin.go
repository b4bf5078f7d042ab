package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/fairwayhq/fairway/broker"
)

var registerCmd = &command{
	name: "register", args: "[--replace] [--partitions K] QUEUE PATTERN", summary: "create a queue, or change its pattern with --replace",
	help: "PATTERN is a Go regular expression matched anywhere in a delivery's topic; anchor it\nwith ^ and $ to match whole topics. Example: fairway register emails '^email\\.'\nRegistering a queue again with its own pattern changes nothing; another pattern is refused\n(exit 1, naming both) unless --replace is given.\n--partitions K splits the queue into K partitions (see 'fairway help partitions').",
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		partitions := fs.Int("partitions", 0, "split the queue into this many partitions (0: keep its count; 1 for a new queue)")
		replace := fs.Bool("replace", false, "change the pattern of a queue registered with another one")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 2, 2, "QUEUE PATTERN"); err != nil {
				return err
			}
			if err := flagInRange("partitions", *partitions, 0, broker.MaxPartitions); err != nil {
				return err
			}
			var opts []broker.QueueOption
			if *partitions != 0 {
				opts = append(opts, broker.WithPartitions(*partitions))
			}
			if *replace {
				opts = append(opts, broker.ReplacePattern())
			}
			return a.act(ctx, func(ctx context.Context) error {
				return a.b.RegisterQueue(ctx, args[0], args[1], opts...)
			}, registerJSON{Queue: args[0], Pattern: args[1]}, "registered queue %q for topics matching %q", args[0], args[1])
		}
	},
}

var partitionsCmd = &command{
	name: "partitions", args: "QUEUE [K]", summary: "show a queue's partitions, or change their count to K",
	help: "Each partition is a queue of its own in Redis with its own hash tag, so on a Redis Cluster\nthe partitions spread over the masters; a facet always maps to the same partition. Changing\nK loses nothing: new deliveries go to the new partitions at once, the old ones are pulled\nfirst until empty (each facet's order is kept) and then deleted.",
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 2, "QUEUE [K]"); err != nil {
				return err
			}
			if len(args) == 2 {
				k, err := argInRange("partition count", args[1], 1, broker.MaxPartitions)
				if err != nil {
					return err
				}
				if _, err := a.broker(ctx); err != nil {
					return err
				}
				octx, cancel := a.opCtx(ctx)
				defer cancel()
				if err := a.b.SetPartitions(octx, args[0], k); err != nil {
					return err
				}
				if a.json {
					return a.printPartitions(octx, args[0])
				}
				return a.say(nil, "queue %q now takes deliveries in %d partition(s); older partitions drain first", args[0], k)
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			if _, err := b.Stats(ctx, args[0]); err != nil {
				return err
			}
			if a.json {
				return a.printPartitions(ctx, args[0])
			}
			p, err := b.Partitions(ctx, args[0])
			if err != nil {
				return err
			}
			var rows [][]string
			for i, name := range p.Names {
				rows = append(rows, []string{strconv.Itoa(i), name, "current"})
			}
			for _, name := range p.Draining {
				rows = append(rows, []string{"-", name, "draining"})
			}
			return a.table("PARTITION NAME STATE", rows)
		}
	},
}

// printPartitions prints queue's partitions as JSON.
func (a *app) printPartitions(ctx context.Context, queue string) error {
	p, err := a.b.Partitions(ctx, queue)
	if err != nil {
		return err
	}
	return a.printJSON(partitionsJSON{Queue: queue, Count: p.Count, Generation: p.Generation,
		Names: append([]string{}, p.Names...), Draining: append([]string{}, p.Draining...)})
}

var unregisterCmd = &command{
	name: "unregister", args: "QUEUE", summary: "stop routing deliveries to a queue (its messages stay)",
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "QUEUE"); err != nil {
				return err
			}
			return a.act(ctx, func(ctx context.Context) error {
				if _, err := a.b.Stats(ctx, args[0]); err != nil {
					return err
				}
				return a.b.UnregisterQueue(ctx, args[0])
			}, queueStateJSON{Queue: args[0], State: "unrouted"}, "unregistered queue %q; its messages stay until pulled, or until 'fairway destroy %s' deletes them", args[0], args[0])
		}
	},
}

var priorityCmd = &command{
	name: "priority", args: "QUEUE FACET N", summary: "set a facet's share of turns (0 pauses it)",
	help: "A facet of priority N gets N times the turns of a priority-1 facet (the default).",
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 3, 3, "QUEUE FACET N"); err != nil {
				return err
			}
			n, err := argInRange("priority", args[2], 0, broker.MaxPriority)
			if err != nil {
				return err
			}
			return a.act(ctx, func(ctx context.Context) error {
				return a.b.SetFacetPriority(ctx, args[0], args[1], n)
			}, priorityJSON{Queue: args[0], Facet: args[1], Priority: n}, "facet %q of queue %q now has priority %d", args[1], args[0], n)
		}
	},
}

var attemptsCmd = queueNumber{
	name: "attempts", summary: "show or set the deliveries a message of the queue gets (0: the producer's default)",
	help: `A message's budget of deliveries is fixed when it is queued: its delivery's own
(deliver --max-attempts), else the queue's default set here, else the delivering
broker's Config.MaxAttempts (25 unless set). Messages already queued keep theirs.`,
	max:  broker.MaxAttemptsLimit,
	set:  (*broker.Broker).SetMaxAttempts,
	of:   func(st broker.QueueStats) int64 { return st.MaxAttempts },
	json: func(q string, n int64) any { return attemptsJSON{Queue: q, MaxAttempts: n} },
	said: func(q string, n int64) string {
		return fmt.Sprintf("messages queued on %q from now get %s", q, attemptsText(n))
	},
	shown: func(q string, n int64) string {
		return fmt.Sprintf("queue %q: a message whose delivery sets no budget gets %s", q, attemptsText(n))
	},
}.command()

// queueNumber is a command "NAME QUEUE [N]" that shows or sets one number
// of a queue's settings.
type queueNumber struct {
	name, summary, help string
	max                 int // the largest N; the smallest is 0
	set                 func(b *broker.Broker, ctx context.Context, queue string, n int) error
	of                  func(broker.QueueStats) int64      // the number, from Stats
	json                func(queue string, n int64) any    // the --json answer to both
	said, shown         func(queue string, n int64) string // the text after a set, and of a show
}

func (q queueNumber) command() *command {
	return &command{
		name: q.name, args: "QUEUE [N]", summary: q.summary, help: q.help,
		setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(args, 1, 2, "QUEUE [N]"); err != nil {
					return err
				}
				if len(args) == 1 {
					return q.show(ctx, a, args[0])
				}
				n, err := argInRange(q.name, args[1], 0, q.max)
				if err != nil {
					return err
				}
				return a.act(ctx, func(ctx context.Context) error {
					return q.set(a.b, ctx, args[0], n)
				}, q.json(args[0], int64(n)), "%s", q.said(args[0], int64(n)))
			}
		},
	}
}

// show prints the queue's number.
func (q queueNumber) show(ctx context.Context, a *app, queue string) error {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	st, err := b.Stats(ctx, queue)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(q.json(queue, q.of(st)))
	}
	return a.say(nil, "%s", q.shown(queue, q.of(st)))
}

// attemptsText describes a queue's default budget.
func attemptsText(n int64) string {
	if n > 0 {
		return fmt.Sprintf("%d deliveries", n)
	}
	return "the producer's default (Config.MaxAttempts)"
}

var migrateCmd = &command{
	name: "migrate", args: "[QUEUE...]", summary: "move queues written by a release before 0.2.0 to this key layout",
	help: `Moves the attempts and leases that releases before 0.2.0 kept in the att and lease
hashes into this release's layout, on every partition; without QUEUE, every queue.
A pull does the same on first use, before it pulls anything; this does it ahead.
Stop the workers of the older release first. Running it again does nothing.`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			for _, q := range args {
				if err := broker.ValidateQueueName(q); err != nil {
					return usageError{err.Error()}
				}
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			queues := args
			if len(queues) == 0 {
				qs, err := b.ListQueues(ctx)
				if err != nil {
					return err
				}
				for _, q := range qs {
					queues = append(queues, q.Name)
				}
			}
			for _, q := range queues {
				if err := b.MigrateLayout(ctx, q); err != nil {
					return err
				}
			}
			return a.say(migrateJSON{Queues: append([]string{}, queues...)}, "%d queue(s) in this key layout: %s", len(queues), strings.Join(queues, ", "))
		}
	},
}

var pauseCmd = pauseCommand(true)
var resumeCmd = pauseCommand(false)

func pauseCommand(pause bool) *command {
	name, summary, done, now := "pause", "stop a queue, or one facet, from leasing messages", "paused", "paused"
	if !pause {
		name, summary, done, now = "resume", "let a paused queue or facet lease messages again", "resumed", "active"
	}
	return &command{
		name: name, args: "QUEUE [FACET]", summary: summary,
		help: "Deliveries keep queueing while paused; leases already taken run their course.",
		setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(args, 1, 2, "QUEUE [FACET]"); err != nil {
					return err
				}
				what := fmt.Sprintf("queue %q", args[0])
				out := queueStateJSON{Queue: args[0], State: now}
				if len(args) == 2 {
					what = fmt.Sprintf("facet %q of queue %q", args[1], args[0])
					out.Facet = args[1]
				}
				return a.act(ctx, func(ctx context.Context) error {
					switch {
					case len(args) == 1 && pause:
						return a.b.PauseQueue(ctx, args[0])
					case len(args) == 1:
						return a.b.ResumeQueue(ctx, args[0])
					case pause:
						return a.b.PauseFacet(ctx, args[0], args[1])
					}
					return a.b.ResumeFacet(ctx, args[0], args[1])
				}, out, "%s %s", done, what)
			}
		},
	}
}

// act connects, runs op within --timeout, and confirms with a message (or
// v with --json).
func (a *app) act(ctx context.Context, op func(context.Context) error, v any, format string, args ...any) error {
	if _, err := a.broker(ctx); err != nil {
		return err
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	if err := op(ctx); err != nil {
		return err
	}
	return a.say(v, format, args...)
}
