package broker

import (
	"context"
	"embed"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

// The queue scripts, each prefixed with scripts/lib.lua (and the libraries
// named after it).
var (
	scriptEnqueue      = queueScript("enqueue")
	scriptPull         = queueScript("pull", "ratelib")
	scriptAck          = queueScript("ack")
	scriptNack         = queueScript("nack")
	scriptRelease      = queueScript("release")
	scriptExtend       = queueScript("extend")
	scriptPriority     = queueScript("priority")
	scriptLimit        = queueScript("limit")
	scriptPause        = queueScript("pause")
	scriptRateLimit    = queueScript("ratelimit", "ratelib")
	scriptCreateQueue  = queueScript("create_queue")
	scriptUnrouteQueue = queueScript("unroute_queue")
	scriptDestroyQueue = queueScript("destroy_queue", "ratelib")
	scriptDeadRequeue  = queueScript("dead_requeue")
	scriptDeadPurge    = queueScript("dead_purge")
	scriptSettings     = queueScript("settings", "ratelib")
	scriptDropDrained  = queueScript("drop_drained", "ratelib")
	scriptRegistry     = redis.NewScript(readScript("registry"))
	scriptPartitions   = redis.NewScript(readScript("partitions"))
)

func readScript(name string) string {
	b, err := scriptFS.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("broker: missing embedded script " + name) // a build error, not a runtime one
	}
	return string(b)
}

func queueScript(name string, libs ...string) *redis.Script {
	src := readScript("lib") + "\n"
	for _, l := range libs {
		src += readScript(l) + "\n"
	}
	return redis.NewScript(src + readScript(name))
}

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
