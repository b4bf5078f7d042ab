package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

var ttlCmd = &command{
	name: "ttl", args: "QUEUE [DURATION] [--drop|--dead-letter]", summary: "show or set how long a message of the queue may wait to start (0: forever)",
	help: `A message that has not started within its TTL when its turn comes is not run: it
becomes a dead letter with the reason "expired" (--dead-letter, the default), or is
dropped (--drop); stats counts both as expired. A message's TTL is its delivery's own
(deliver --ttl), else the queue's default set here; messages already queued keep
theirs. Once a message has started, its retries run whatever its TTL. TTLs are
measured on Redis's clock. Examples:
  fairway ttl emails 1h          messages not started within an hour expire
  fairway ttl emails 0 --drop    no default; expired messages are dropped`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		drop := fs.Bool("drop", false, "drop expired messages instead of making them dead letters")
		dead := fs.Bool("dead-letter", false, "make expired messages dead letters (the default policy)")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 1, 2, "QUEUE [DURATION]"); err != nil {
				return err
			}
			if *drop && *dead {
				return usageError{"--drop and --dead-letter: give one"}
			}
			var ttl time.Duration
			if len(args) == 2 {
				var err error
				if ttl, err = parseTTL(args[1]); err != nil {
					return err
				}
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			if len(args) == 2 {
				if err := b.SetMessageTTL(ctx, args[0], ttl); err != nil {
					return err
				}
			}
			if *drop || *dead {
				p := broker.ExpireDeadLetter
				if *drop {
					p = broker.ExpireDrop
				}
				if err := b.SetExpiryPolicy(ctx, args[0], p); err != nil {
					return err
				}
			}
			st, err := b.Stats(ctx, args[0])
			if err != nil {
				return err
			}
			out := ttlJSON{Queue: args[0], TTLMS: st.MessageTTL.Milliseconds(), ExpiryPolicy: st.ExpiryPolicy.String(), Expired: st.Expired}
			return a.say(out, "queue %q: a message whose delivery sets no TTL %s; expired messages %s (%d so far)",
				args[0], ttlText(st.MessageTTL), policyText(st.ExpiryPolicy), st.Expired)
		}
	},
}

// parseTTL reads a TTL argument or flag value: 0, or a duration of at
// least 1ms.
func parseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, usageError{fmt.Sprintf("TTL %q is not a duration, such as 30s or 1h", s)}
	case d < 0 || d > 0 && d < time.Millisecond:
		return 0, usageError{fmt.Sprintf("TTL %v: want 0 or at least 1ms", d)}
	}
	return d, nil
}

// ttlText describes a queue's default TTL.
func ttlText(d time.Duration) string {
	if d > 0 {
		return "expires if not started within " + d.String()
	}
	return "never expires"
}

// policyText describes what becomes of expired messages.
func policyText(p broker.ExpiryPolicy) string {
	if p == broker.ExpireDrop {
		return "are dropped"
	}
	return "become dead letters"
}

// ttlTableText is a queue's default TTL in the stats table.
func ttlTableText(d time.Duration) string {
	if d > 0 {
		return d.String()
	}
	return "none"
}
