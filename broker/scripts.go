package broker

import (
	"context"
	"embed"
	"regexp"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:generate go run ./internal/scriptgen/gen

//go:embed scripts/*.lua
var scriptFS embed.FS

// The queue scripts, each prefixed with the parts of scripts/lib.lua (and
// of the libraries named after it) that it uses: see queueScript.
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
	scriptDeadMove     = queueScript("dead_move")
	scriptRegistry     = redis.NewScript(readScript("registry"))
	scriptPartitions   = redis.NewScript(readScript("partitions"))
	scriptRegistryLoad = redis.NewScript(readScript("registry_load"))
	scriptKnown        = redis.NewScript(readScript("known"))
)

func readScript(name string) string {
	b, err := scriptFS.ReadFile("scripts/" + name + ".lua")
	if err != nil {
		panic("broker: missing embedded script " + name) // a build error, not a runtime one
	}
	return string(b)
}

// queueScript is the script name, prefixed with the definitions of lib.lua
// and of libs that it uses, directly or through another definition.
//
// A script's body runs in full on every call, prelude included: each
// definition it carries builds a key name or a closure every time. Leaving
// out the unused ones takes most of the fixed cost of a call away (enqueue
// uses a third of lib.lua).
func queueScript(name string, libs ...string) *redis.Script {
	lib := readScript("keys") + "\n" + readScript("lib")
	for _, l := range libs {
		lib += "\n" + readScript(l)
	}
	return redis.NewScript(withPrelude(lib, readScript(name)))
}

// A libDef is one top-level definition of a library, "local NAME = ..." or
// "local function NAME(...)" up to the next one, with the comment above it.
type libDef struct {
	names []string // the locals it defines
	src   string
}

var (
	libDefHead = regexp.MustCompile(`^local\s+(?:function\s+)?([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)`)
	luaComment = regexp.MustCompile(`--[^\n]*`)
	luaName    = regexp.MustCompile(`[A-Za-z_]\w*`)
)

// splitLib cuts a library into its top-level definitions. Every top-level
// statement of a library is a local definition that has no effect but
// defining it, and code inside a function is indented, so a line that starts
// with "local" starts a definition. Comments and blank lines between two
// definitions go with the second.
func splitLib(lib string) []libDef {
	var defs []libDef
	var cur, pending strings.Builder
	var names []string
	flush := func() {
		if names != nil {
			defs = append(defs, libDef{names: names, src: cur.String()})
		}
		cur.Reset()
	}
	for line := range strings.Lines(lib) {
		trimmed := strings.TrimSpace(line)
		if m := libDefHead.FindStringSubmatch(line); m != nil {
			flush()
			names = nil
			for n := range strings.SplitSeq(m[1], ",") {
				names = append(names, strings.TrimSpace(n))
			}
		} else if trimmed == "" || strings.HasPrefix(line, "--") {
			pending.WriteString(line)
			continue
		}
		cur.WriteString(pending.String())
		pending.Reset()
		cur.WriteString(line)
	}
	flush()
	return defs
}

// luaNames is the set of names code mentions outside comments (inside
// strings too: a name counted that is not used only costs a definition).
func luaNames(code string, into map[string]bool) {
	for _, n := range luaName.FindAllString(luaComment.ReplaceAllString(code, ""), -1) {
		into[n] = true
	}
}

// withPrelude prefixes body with the definitions of lib that it needs. A
// definition can only use the ones above it, so one pass from the last
// definition up finds every one needed.
func withPrelude(lib, body string) string {
	defs := splitLib(lib)
	used := make(map[string]bool)
	luaNames(body, used)
	keep := make([]bool, len(defs))
	for i := len(defs) - 1; i >= 0; i-- {
		for _, n := range defs[i].names {
			if used[n] {
				keep[i] = true
			}
		}
		if keep[i] {
			luaNames(defs[i].src, used)
		}
	}
	var b strings.Builder
	for i, d := range defs {
		if keep[i] {
			b.WriteString(d.src)
		}
	}
	b.WriteString("\n")
	b.WriteString(body)
	return b.String()
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
