package cli

import (
	"context"
	"errors"
	"flag"
	"runtime/debug"
)

// errNotFound is reported with ExitNotFound.
var errNotFound = errors.New("not found")

var versionCmd = &command{
	name: "version", summary: "print the version of this binary",
	setup: func(_ *flag.FlagSet, a *app) func(context.Context, []string) error {
		return func(context.Context, []string) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			return a.say(versionJSON{Version: v}, "fairway %s", v)
		}
	},
}
