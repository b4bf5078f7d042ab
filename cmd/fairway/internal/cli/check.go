package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/fairwayhq/fairway/broker"
)

// errMayEvict is "fairway check" finding a server that may evict keys.
var errMayEvict = errors.New("maxmemory-policy may evict keys")

var checkCmd = &command{
	name: "check", summary: "check that Redis cannot lose messages on its own (maxmemory-policy)",
	help: `Reads each Redis server's maxmemory-policy (on a Cluster, every master's). Any policy
but noeviction lets Redis evict keys under memory pressure, which loses messages without
a word: check exits 1 then. "unknown" means the server does not say (INFO refused).`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			b, ctx, cancel, err := a.brokerOp(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			rep, err := b.CheckServer(ctx)
			if err != nil && !errors.Is(err, broker.ErrEvictingRedis) {
				return err
			}
			out := checkJSON{Servers: []serverJSON{}, Problems: append([]string{}, rep.Problems...)}
			var rows [][]string
			for _, server := range slices.Sorted(maps.Keys(rep.Policies)) {
				p := rep.Policies[server]
				evicts := p != "noeviction" && p != "unknown"
				out.Servers = append(out.Servers, serverJSON{Server: server, MaxmemoryPolicy: p, MayEvict: evicts})
				verdict := "ok"
				if evicts {
					verdict = "MAY EVICT KEYS: set maxmemory-policy noeviction"
				}
				rows = append(rows, []string{server, p, verdict})
			}
			var perr error
			if a.json {
				perr = a.printJSON(out)
			} else {
				perr = a.table("SERVER MAXMEMORY-POLICY VERDICT", rows)
			}
			if perr != nil {
				return perr
			}
			// The problems are on stderr already (warnServer): only the
			// exit code is left to say it.
			if err != nil {
				return fmt.Errorf("%w on %d server(s)", errMayEvict, len(rep.Problems))
			}
			return nil
		}
	},
}
