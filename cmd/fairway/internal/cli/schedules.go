package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/scheduler"
)

// timeText renders t in UTC, or none when t is zero.
func timeText(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

var schedulesCmd = &command{
	name: "schedules", args: "[forget NAME]", summary: "list periodic schedules, or forget one no process runs",
	help: `Lists every schedule a scheduler has run on the namespace: its spec, time zone, topic
and facet (empty when it builds its messages), catch-up policy, and its last and
next runs (UTC; the last run is "never", null in --json, until a run is delivered
or skipped by catch-up). "forget NAME" removes a schedule's record and its last run from
Redis, for a schedule no process runs any more; a scheduler still running it
records it again and starts afresh, without catching up.`,
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			switch {
			case len(args) == 0:
				return a.listSchedules(ctx)
			case args[0] == "forget":
				if err := wantArgs(args[1:], 1, 1, "forget NAME"); err != nil {
					return err
				}
				return a.forgetSchedule(ctx, args[1])
			}
			return usageError{fmt.Sprintf("unknown subcommand %q; want no arguments or 'forget NAME'", args[0])}
		}
	},
}

func (a *app) schedules(ctx context.Context) ([]scheduler.Info, error) {
	b, ctx, cancel, err := a.brokerOp(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	return scheduler.List(ctx, b)
}

func (a *app) listSchedules(ctx context.Context) error {
	all, err := a.schedules(ctx)
	if err != nil {
		return err
	}
	rows := []scheduleJSON{}
	for _, s := range all {
		rows = append(rows, scheduleJSON{
			Name: s.Name, Spec: s.Spec, Location: s.Location, Topic: s.Topic, Facet: s.Facet,
			CatchUp: s.CatchUp.String(), LastRun: timeOrNull(s.LastRun), NextRun: timeOrNull(s.NextRun),
		})
	}
	if a.json {
		return a.printJSON(rows)
	}
	if len(rows) == 0 {
		return a.say(rows, "no schedules recorded in namespace %q (a scheduler records its schedules when it runs)", a.namespace)
	}
	var out [][]string
	for _, s := range all {
		topic, facet := s.Topic, s.Facet
		if topic == "" {
			topic = "(built)"
		}
		if facet == "" {
			facet = "-"
		}
		out = append(out, []string{quoteIfNeeded(s.Name), quoteIfNeeded(s.Spec), s.Location, quoteIfNeeded(topic),
			quoteIfNeeded(facet), s.CatchUp.String(), timeText(s.LastRun, "never"), timeText(s.NextRun, "-")})
	}
	return a.table("NAME SPEC ZONE TOPIC FACET CATCH-UP LAST-RUN NEXT-RUN", out)
}

func (a *app) forgetSchedule(ctx context.Context, name string) error {
	all, err := a.schedules(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, s := range all {
		found = found || s.Name == name
	}
	if !found {
		return fmt.Errorf("%w: no schedule %q is recorded; run 'fairway schedules' to list them", errNotFound, name)
	}
	return a.act(ctx, func(ctx context.Context) error {
		return scheduler.Forget(ctx, a.b, name)
	}, forgetJSON{Schedule: name, State: "forgotten"}, "forgot schedule %q", name)
}
