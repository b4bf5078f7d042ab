package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

var destroyCmd = &command{
	name: "destroy", args: "QUEUE [--yes]", summary: "delete a queue with every message and setting it holds",
	help: `Unregisters the queue and deletes its messages (ready, in flight, delayed and dead),
its settings and its history: what it holds is lost. It asks you to type the queue's
name to confirm, on a terminal; without one (a script, cron, a pipe) it refuses unless
--yes is given.`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		yes := fs.Bool("yes", false, "destroy without asking (for scripts)")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 1, "QUEUE"); err != nil {
				return err
			}
			q := args[0]
			b, octx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			st, err := b.Stats(octx, q)
			cancel()
			if err != nil {
				return err
			}
			held := st.Ready + st.InFlight + st.Delayed + st.Dead
			if !*yes {
				if err := a.confirm(q, held); err != nil {
					return err
				}
			}
			return a.act(ctx, func(ctx context.Context) error {
				return a.b.DestroyQueue(ctx, q)
			}, destroyJSON{Queue: q, Destroyed: true, Messages: held},
				"destroyed queue %q and the %d message(s) it held", q, held)
		}
	},
}

// confirm asks the operator on the terminal to type queue's name, and
// fails unless they do. Without a terminal on stdin it refuses: a script
// says --yes.
func (a *app) confirm(queue string, held int64) error {
	if a.env.InputIsTerminal == nil || !a.env.InputIsTerminal(a.env.Stdin) {
		return usageError{fmt.Sprintf("refusing to destroy queue %q without confirmation: stdin is not a terminal; pass --yes to destroy it from a script", queue)}
	}
	printf(a.env.Stderr, "This deletes queue %q and the %d message(s) it holds, with its settings; they cannot be recovered.\nType the queue's name to confirm: ", queue, held)
	line, err := bufio.NewReader(a.env.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("read confirmation: %w", err)
	}
	if strings.TrimSpace(line) != queue {
		return usageError{fmt.Sprintf("you typed %q, not the queue's name %q: nothing was destroyed", strings.TrimSpace(line), queue)}
	}
	return nil
}

// isInputTerminal tells whether r is a terminal: a character device other
// than the null device (cron and systemd give /dev/null as stdin).
func isInputTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
