package cli

import (
	"context"
	"flag"
	"fmt"
	"math"
	"strings"

	"github.com/fairwayhq/fairway/broker"
)

// deadBatch is how many dead letters one step of a requeue or purge of all
// takes, so that the progress bar moves.
const deadBatch = 500

var deadCmd = &command{
	name: "dead", args: "list|requeue|purge QUEUE [ID...] [--all]", summary: "list, requeue or purge dead letters",
	help: `  dead list QUEUE [--offset N] [--limit N] [--stack]
                                             oldest first, with error and attempts; --stack
                                             prints the stack of each that died of a panic
  dead requeue QUEUE ID... | --all           back to their facets, attempts reset
  dead purge QUEUE ID... | --all             delete them
With --all, a progress bar is drawn on stderr when it is a terminal (or with --progress).`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		offset := fs.Int("offset", 0, "list: skip this many of the oldest")
		limit := fs.Int("limit", 50, "list: show at most this many")
		all := fs.Bool("all", false, "requeue/purge: every dead letter of the queue")
		stacks := fs.Bool("stack", false, "list: print the stack kept with each dead letter of a panic, below the table")
		progress := fs.Bool("progress", false, "requeue/purge --all: draw a progress bar even when stderr is not a terminal")
		return func(ctx context.Context, args []string) error {
			if len(args) < 2 {
				return usageError{"want list|requeue|purge QUEUE"}
			}
			verb, queue, ids := args[0], args[1], args[2:]
			switch verb {
			case "list":
				if len(ids) > 0 {
					return usageError{"dead list takes no IDs"}
				}
				if err := flagInRange("offset", *offset, 0, math.MaxInt); err != nil {
					return err
				}
				if err := flagInRange("limit", *limit, 1, math.MaxInt); err != nil {
					return err
				}
				return a.deadList(ctx, queue, *offset, *limit, *stacks)
			case "requeue", "purge":
				if *all == (len(ids) > 0) {
					return usageError{fmt.Sprintf("give the IDs to %s, or --all (not both)", verb)}
				}
				return a.deadAct(ctx, verb, queue, ids, *progress)
			}
			return usageError{fmt.Sprintf("unknown dead subcommand %q: want list, requeue or purge", verb)}
		}
	},
}

func (a *app) deadList(ctx context.Context, queue string, offset, limit int, stacks bool) error {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	st, err := b.Stats(ctx, queue)
	if err != nil {
		return err
	}
	ds, err := b.DeadLetters(ctx, queue, offset, limit)
	if err != nil {
		return err
	}
	rows := []deadJSON{}
	var out [][]string
	for _, d := range ds {
		rows = append(rows, deadJSON{messageJSON: toMessageJSON(&d.Message), Error: d.Error, DiedAt: utcText(d.DiedAt), Stack: d.Stack})
		out = append(out, []string{d.ID, quoteIfNeeded(d.Facet), attemptText(&d.Message), age(d.DiedAt),
			clip([]byte(d.Error), 40), clip(d.Body, 50)})
	}
	if a.json {
		return a.printJSON(rows)
	}
	if len(out) == 0 {
		return a.say(nil, "no dead letters in queue %q at offset %d (%d in all)", queue, offset, st.Dead)
	}
	if err := a.table("ID FACET ATTEMPTS DIED ERROR BODY", out); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(a.env.Stdout, "%d-%d of %d dead letters\n", offset+1, offset+len(out), st.Dead); err != nil {
		return err
	}
	if !stacks {
		if n := countStacks(ds); n > 0 {
			printf(a.env.Stdout, "%d of these keep a panic's stack: add --stack to print them\n", n)
		}
		return nil
	}
	for _, d := range ds {
		if d.Stack != "" {
			printf(a.env.Stdout, "\nstack of %s (%s):\n%s", d.ID, d.Error, strings.TrimSuffix(d.Stack, "\n")+"\n")
		}
	}
	return nil
}

func countStacks(ds []broker.DeadLetter) int {
	n := 0
	for _, d := range ds {
		if d.Stack != "" {
			n++
		}
	}
	return n
}

func (a *app) deadAct(ctx context.Context, verb, queue string, ids []string, progress bool) error {
	b, err := a.broker(ctx)
	if err != nil {
		return err
	}
	op := b.PurgeDead
	if verb == "requeue" {
		op = b.RequeueDead
	}
	octx, cancel := a.opCtx(ctx)
	st, err := b.Stats(octx, queue)
	cancel()
	if err != nil {
		return err
	}
	var n int
	if len(ids) > 0 {
		octx, cancel := a.opCtx(ctx)
		n, err = op(octx, queue, ids...)
		cancel()
	} else {
		n, err = a.deadAll(ctx, b, queue, op, st.Dead, progress)
	}
	if err != nil {
		return fmt.Errorf("%s stopped after %d dead letter(s): %w", verb, n, err)
	}
	done := map[string]string{"requeue": "requeued", "purge": "purged"}[verb]
	out := deadActJSON{Queue: queue, Action: verb, Count: n, NotFound: max(len(ids)-n, 0)}
	if err := a.say(out, "%s %d dead letter(s) of queue %q", done, n, queue); err != nil {
		return err
	}
	if n < len(ids) {
		return fmt.Errorf("%w: %d of the IDs given were not dead letters of queue %q (see 'fairway dead list %s')", errNotFound, len(ids)-n, queue, queue)
	}
	return nil
}

// deadAll takes the oldest dead letters a batch at a time, up to as many as
// there were at the start, drawing progress.
func (a *app) deadAll(ctx context.Context, b *broker.Broker, queue string, op func(context.Context, string, ...string) (int, error), total int64, progress bool) (int, error) {
	bar := newProgressBar(a.env.Stderr, total, progress || (a.env.IsTerminal != nil && a.env.IsTerminal(a.env.Stderr)))
	defer bar.finish()
	done := 0
	for int64(done) < total {
		octx, cancel := a.opCtx(ctx)
		ds, err := b.DeadLetters(octx, queue, 0, int(min(deadBatch, total-int64(done))))
		if err != nil || len(ds) == 0 {
			cancel()
			return done, err
		}
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		n, err := op(octx, queue, ids...)
		cancel()
		done += n
		bar.set(int64(done))
		if err != nil || n == 0 {
			return done, err
		}
	}
	return done, nil
}
