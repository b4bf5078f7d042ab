// Command fairway is the operator's tool for Fairway queues: it lists
// queues, facets, dead letters and periodic schedules, changes priorities,
// limits and rate limits, pauses and resumes, delivers and peeks at
// messages, follows deliveries, and serves a web dashboard. Run "fairway help" for the commands.
//
// Install it with:
//
//	go install github.com/fairwayhq/fairway/cmd/fairway@latest
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fairwayhq/fairway/cmd/fairway/internal/cli"
	"github.com/redis/go-redis/v9"
)

// quiet drops go-redis's own log lines; the command reports errors itself.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func main() {
	redis.SetLogger(quiet{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.StdEnv())
	stop()
	os.Exit(code)
}
