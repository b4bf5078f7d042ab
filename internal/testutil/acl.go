package testutil

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The least a Fairway producer and a Fairway worker need from a Redis 6+ ACL
// user, as the README's "TLS, passwords and ACL users" section documents
// them. The tests run producers and workers under exactly these rules.
//
// Redis checks every command a Lua script calls against the ACL of the user
// running the script, so both need the commands the broker's scripts call
// (ACLScriptCommands), each confined by the key pattern to the namespace.
var (
	// ACLScriptCommands are the commands the broker's Lua scripts call.
	// A broker test checks that this is exactly the set in broker/scripts.
	ACLScriptCommands = []string{
		"del", "exists", "get", "hdel", "hexists", "hget", "hgetall", "hincrby", "hkeys",
		"hlen", "hmget", "hset", "hsetnx", "incr", "incrby", "llen", "lpop", "lpush",
		"lrem", "publish", "rpush", "sadd", "set", "smembers", "srem", "time", "zadd", "zcard",
		"zmscore", "zrange", "zrangebyscore", "zrem", "zremrangebyrank", "zscore",
	}
	// ACLProducerCommands are the commands a producer (Deliver and
	// DeliverBatch) sends itself: the scripts by hash (and by body after a
	// SCRIPT FLUSH or a restart), the registry's version (GET, beside the
	// scripts on a Cluster), and the pub/sub publish of each delivery.
	ACLProducerCommands = []string{"evalsha", "eval", "get", "hgetall", "publish"}
	// ACLWorkerCommands are the commands a worker (worker.Worker, and
	// RegisterQueue as examples/worker calls it) sends itself: the scripts,
	// the wake-up subscription and its health-check PING, and the
	// per-minute history (HINCRBY and PEXPIRE on its queues' hist keys).
	// The registry is read by a script (registry_load.lua), whose HGETALL
	// and GET the rules must allow as well; INFO tells the worker Redis's
	// maxmemory-policy (broker.CheckServer).
	ACLWorkerCommands = []string{"evalsha", "eval", "subscribe", "ping", "hincrby", "pexpire", "info"}
)

// ProducerACL is the ACL rule set of a producer under namespace ns: its
// keys, the topic channels it publishes on and the wake channels the
// scripts publish on, and the commands above; nothing else.
func ProducerACL(ns string) []string {
	return aclRules(ns, []string{"&" + ns + ":*", "&" + ns + "/wake/*"}, ACLProducerCommands)
}

// WorkerACL is the ACL rule set of a worker under namespace ns: its keys,
// the wake channels it subscribes to (and the scripts publish on), and the
// commands above; nothing else.
func WorkerACL(ns string) []string {
	return aclRules(ns, []string{"&" + ns + "/wake/*"}, ACLWorkerCommands)
}

func aclRules(ns string, channels, own []string) []string {
	cmds := slices.Concat(own, ACLScriptCommands)
	slices.Sort(cmds)
	cmds = slices.Compact(cmds)
	rules := append([]string{"~" + ns + ":*"}, channels...)
	for _, c := range cmds {
		rules = append(rules, "+"+c)
	}
	return rules
}

// ACLSetUserCommand renders the ACL SETUSER command that creates user with
// rules and password, as redis-cli takes it. Its "reset" first takes away
// every permission the user may have had.
func ACLSetUserCommand(user, password string, rules []string) string {
	return "ACL SETUSER " + user + " reset on >" + password + " " + strings.Join(rules, " ")
}

// SetACLUser creates user, or replaces its rules, on the server behind rdb:
// reset (no permission at all), enabled, with password, and then rules (see
// ProducerACL and WorkerACL).
func SetACLUser(ctx context.Context, rdb redis.UniversalClient, user, password string, rules []string) error {
	args := []any{"ACL", "SETUSER", user, "reset", "on", ">" + password}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := rdb.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("testutil: ACL SETUSER %s: %w", user, err)
	}
	return nil
}

// ACLDenials lists what the server's ACL LOG recorded for user (all users
// when user is ""): one line per refusal, "<reason> <object> (<context>)",
// such as "command zmscore (toplevel)" or "channel other:t (lua)"; an entry
// that Redis counted n times (the same refusal again) gives n lines.
func ACLDenials(ctx context.Context, rdb redis.UniversalClient, user string) ([]string, error) {
	entries, err := rdb.ACLLog(ctx, 1000).Result()
	if err != nil {
		return nil, fmt.Errorf("testutil: ACL LOG: %w", err)
	}
	var out []string
	for _, e := range entries {
		if user != "" && e.Username != user {
			continue
		}
		for range max(e.Count, 1) {
			out = append(out, fmt.Sprintf("%s %s (%s)", e.Reason, e.Object, e.Context))
		}
	}
	return out, nil
}
