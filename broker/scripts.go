package broker

import (
	"context"
	"embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:generate go run ./internal/scriptgen/gen

// scriptFS holds the full text of every script the broker runs, as
// `go generate ./broker` writes it from the sources in scripts/ (see package
// scriptgen): what Redis runs is exactly what scripts/gen holds.
//
//go:embed scripts/gen/*.lua
var scriptFS embed.FS

// The scripts, each a file of scripts/gen.
var (
	scriptEnqueue      = loadScript("enqueue")
	scriptPull         = loadScript("pull")
	scriptAck          = loadScript("ack")
	scriptNack         = loadScript("nack")
	scriptRelease      = loadScript("release")
	scriptExtend       = loadScript("extend")
	scriptPriority     = loadScript("priority")
	scriptLimit        = loadScript("limit")
	scriptPause        = loadScript("pause")
	scriptRateLimit    = loadScript("ratelimit")
	scriptCreateQueue  = loadScript("create_queue")
	scriptUnrouteQueue = loadScript("unroute_queue")
	scriptDestroyQueue = loadScript("destroy_queue")
	scriptDeadRequeue  = loadScript("dead_requeue")
	scriptDeadPurge    = loadScript("dead_purge")
	scriptSettings     = loadScript("settings")
	scriptDropDrained  = loadScript("drop_drained")
	scriptDeadMove     = loadScript("dead_move")
	scriptMigrate      = loadScript("migrate")
	scriptRegistry     = loadScript("registry")
	scriptPartitions   = loadScript("partitions")
	scriptRegistryLoad = loadScript("registry_load")
	scriptKnown        = loadScript("known")
)

// readScript is the full text of scripts/gen/<name>.lua.
func readScript(name string) string {
	b, err := scriptFS.ReadFile("scripts/gen/" + name + ".lua")
	if err != nil {
		panic("broker: missing embedded script " + name) // a build error, not a runtime one
	}
	return string(b)
}

func loadScript(name string) *redis.Script { return redis.NewScript(readScript(name)) }

// isNoScript reports whether err says the script cache lacks a script, as
// after SCRIPT FLUSH, a restart or a failover.
func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// scriptCall is one EVALSHA queued in a pipeline, kept so that it can be run
// again when the server had lost the script.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

func (c *scriptCall) queue(ctx context.Context, p redis.Pipeliner) {
	c.cmd = c.script.EvalSha(ctx, p, c.keys, c.args...)
}

// rerunLost runs again, with EVAL, the calls that failed with NOSCRIPT. Such
// a call did nothing on the server, so running it again cannot apply it
// twice. go-redis does not fall back from EVALSHA inside a pipeline
// (go-redis issue 3228), hence this.
func rerunLost(ctx context.Context, rdb redis.UniversalClient, calls []*scriptCall) error {
	var lost []*scriptCall
	for _, c := range calls {
		if isNoScript(c.cmd.Err()) {
			lost = append(lost, c)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range lost {
			c.cmd = c.script.Eval(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	return err
}
