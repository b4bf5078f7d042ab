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

// checkReport is "fairway check --json".
type checkReport struct {
	Policies map[string]string `json:"maxmemory_policy"`
	Problems []string          `json:"problems"`
}

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
			if a.json {
				if perr := a.printJSON(checkReport{Policies: rep.Policies, Problems: append([]string{}, rep.Problems...)}); perr != nil {
					return perr
				}
			} else {
				var rows [][]string
				for _, server := range slices.Sorted(maps.Keys(rep.Policies)) {
					verdict := "ok"
					if p := rep.Policies[server]; p != "noeviction" && p != "unknown" {
						verdict = "MAY EVICT KEYS: set maxmemory-policy noeviction"
					}
					rows = append(rows, []string{server, rep.Policies[server], verdict})
				}
				if terr := a.table("SERVER MAXMEMORY-POLICY VERDICT", rows); terr != nil {
					return terr
				}
			}
			// The problems are on stderr already (warnServer): only the
			// exit code is left to say it.
			if err != nil {
				return fmt.Errorf("%d server(s) may evict keys", len(rep.Problems))
			}
			return nil
		}
	},
}
