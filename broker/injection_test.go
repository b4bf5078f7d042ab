package broker_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // Redis names scripts by their SHA-1; not used for security here.
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// hostile are names and values made of Lua and Redis syntax. None may ever
// become part of a script: user values reach Lua only as KEYS and ARGV.
var hostile = []string{
	`"]] redis.call('FLUSHALL') --`,
	`'); redis.call('FLUSHALL'); --`,
	"]]\nreturn redis.call('FLUSHALL')\n--[[",
	"\n", "\r\n", "\t", " ", "*", "?", "[a-z]", "{}", "{q}", "}{", "%s", "%d%n", "\\", `"`, "'", "`",
	"KEYS[1]", "ARGV[1]", "1|f", "f:", ":", "--", "end", "os.exit(1)", "\x00", "\x00]]", "$(reboot)",
	"*3\r\n$8\r\nFLUSHALL\r\n", "ünï©ødé", "🚀",
}

// scriptAudit is a go-redis hook that checks every script the client sends:
// an EVAL must carry a file of broker/scripts/gen as it is, an EVALSHA the hash of
// a script so sent, every key must be under the namespace, and nothing else
// (SCRIPT LOAD, FUNCTION, FCALL) may run code.
type scriptAudit struct {
	files  []string
	prefix string

	mu       sync.Mutex
	problems []string
	sent     map[string]bool // hashes of the EVAL scripts that passed
	called   map[string]bool // hashes called with EVALSHA
}

func newScriptAudit(t *testing.T, namespace string) *scriptAudit {
	t.Helper()
	paths, err := fs.Glob(broker.ScriptFS, "scripts/gen/*.lua")
	if err != nil || len(paths) == 0 {
		t.Fatalf("scripts: %v, %v", paths, err)
	}
	a := &scriptAudit{prefix: namespace + ":", sent: map[string]bool{}, called: map[string]bool{}}
	for _, p := range paths {
		body, err := fs.ReadFile(broker.ScriptFS, p)
		if err != nil {
			t.Fatal(err)
		}
		a.files = append(a.files, string(body))
	}
	return a
}

// composed reports whether text is a generated script file, whole: the
// broker runs each as it is.
func (a *scriptAudit) composed(text string) bool {
	return slices.Contains(a.files, text)
}

func (a *scriptAudit) DialHook(next redis.DialHook) redis.DialHook { return next }

func (a *scriptAudit) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		a.check(cmd)
		return next(ctx, cmd)
	}
}

func (a *scriptAudit) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			a.check(c)
		}
		return next(ctx, cmds)
	}
}

func (a *scriptAudit) check(cmd redis.Cmder) {
	args := cmd.Args()
	name := strings.ToLower(cmd.Name())
	a.mu.Lock()
	defer a.mu.Unlock()
	bad := func(format string, v ...any) { a.problems = append(a.problems, fmt.Sprintf(format, v...)) }
	switch name {
	case "eval", "eval_ro", "evalsha", "evalsha_ro":
		script := fmt.Sprint(args[1])
		switch {
		case strings.HasPrefix(name, "evalsha"):
			a.called[script] = true
		case a.composed(script):
			sum := sha1.Sum([]byte(script)) //nolint:gosec // see the import
			a.sent[hex.EncodeToString(sum[:])] = true
		default:
			bad("EVAL of a script that is not made of broker/scripts: %.200q", script)
		}
		n, _ := args[2].(int)
		for _, k := range args[3 : 3+n] {
			if !strings.HasPrefix(fmt.Sprint(k), a.prefix) {
				bad("%s with key %q outside the namespace", name, k)
			}
		}
	case "script", "function", "fcall", "fcall_ro":
		bad("the broker sent %v", args)
	}
}

func (a *scriptAudit) report(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sent) == 0 {
		t.Fatal("the audit saw no EVAL: is the hook installed, the script cache flushed?")
	}
	// The server's script cache was empty at first, so a script called by
	// its hash was sent in full before, and checked then.
	for sha := range a.called {
		if !a.sent[sha] {
			t.Errorf("EVALSHA %s of a script never sent with EVAL", sha)
		}
	}
	for _, p := range a.problems {
		t.Error(p)
	}
}

// auditedClient returns a new client to the server of rdb that audits the
// scripts it sends.
func auditedClient(t *testing.T, rdb redis.UniversalClient, namespace string) (*redis.Client, *scriptAudit) {
	t.Helper()
	c := newClient(t, rdb)
	a := newScriptAudit(t, namespace)
	c.AddHook(a)
	return c, a
}

// TestHostileNames sends names and values made of Lua and Redis syntax
// through every call that takes a user's string, on both backends: each
// comes back exactly as given, every script sent is one of broker/scripts
// with its keys under the namespace, a key outside the namespace survives,
// and queue names, which are part of keys, refuse them.
func TestHostileNames(t *testing.T) {
	t.Parallel()
	// Private servers: the audit needs the script cache to itself.
	backends := map[string]func(t *testing.T) redis.UniversalClient{
		"miniredis": func(t *testing.T) redis.UniversalClient { _, c := testutil.MiniRedis(t); return c },
		"redis-server": func(t *testing.T) redis.UniversalClient {
			c := testutil.StartServerT(t).Client()
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
	}
	for name, client := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testHostileNames(t, client(t))
		})
	}
}

func testHostileNames(t *testing.T, rdb redis.UniversalClient) {
	ctx := t.Context()
	ns := testutil.Namespace(t)
	canary := testutil.Namespace(t) + ":canary"
	if err := rdb.Set(ctx, canary, "alive", 0).Err(); err != nil {
		t.Fatal(err)
	}
	client, audit := auditedClient(t, rdb, ns)
	b := newBroker(t, client, broker.Config{Namespace: ns, LeaseDuration: time.Minute, Logger: quietLogger})
	// A script cache emptied first, so that EVAL sends every text.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i, s := range hostile {
		hostileRoundTrip(t, b, fmt.Sprint("q", i), s)
	}
	audit.report(t)
	if v, err := rdb.Get(ctx, canary).Result(); err != nil || v != "alive" {
		t.Fatalf("the canary outside the namespace: %q, %v", v, err)
	}
}

// hostileRoundTrip uses s as a queue name (refused unless it is one, such
// as "--"), in a queue's pattern,
// and as topic, facet, header, idempotency key, body, subscription glob,
// and dead letter reason.
func hostileRoundTrip(t *testing.T, b *broker.Broker, queue, s string) {
	t.Helper()
	ctx := t.Context()
	if err := b.RegisterQueue(ctx, s, "."); !validQueueName.MatchString(s) && !errors.Is(err, broker.ErrInvalidQueueName) {
		t.Fatalf("RegisterQueue(%q): %v, want ErrInvalidQueueName", s, err)
	}
	register(t, b, queue, "^"+regexp.QuoteMeta(s)+"$")
	if qs, err := b.Queues(ctx); err != nil || qs[queue] != "^"+regexp.QuoteMeta(s)+"$" {
		t.Fatalf("Queues: %v, %v", qs, err)
	}
	sub, err := b.Subscribe(ctx, testutil.GlobEscape(s))
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", s, err)
	}
	defer func() { _ = sub.Close() }()
	headers := map[string]string{s: s}
	deliver(t, b, s, s, s, broker.WithHeaders(headers), broker.WithIdempotencyKey(s, 0))
	deliver(t, b, s, s, "again", broker.WithIdempotencyKey(s, 0)) // the same key: not queued
	if ev := nextEvent(t, sub); ev.Topic != s || string(ev.Body) != s {
		t.Fatalf("event %q %q, want %q", ev.Topic, ev.Body, s)
	}
	if err := b.SetFacetPriority(ctx, queue, s, 2); err != nil {
		t.Fatal(err)
	}
	m := pull(t, b, queue)
	if m.Topic != s || m.Facet != s || string(m.Body) != s || !maps.Equal(m.Headers, headers) {
		t.Fatalf("pulled %+v, want topic, facet, body and header %q", m, s)
	}
	pullNone(t, b, queue)
	if fs, err := b.Facet(ctx, queue, s); err != nil || fs.InFlight != 1 || fs.Priority != 2 {
		t.Fatalf("Facet(%q) = %+v, %v", s, fs, err)
	}
	if err := b.Nack(ctx, m, 0, broker.WithReason(errors.New(s))); err != nil {
		t.Fatal(err)
	}
	if err := b.Kill(ctx, pull(t, b, queue), s); err != nil {
		t.Fatal(err)
	}
	dead, err := b.DeadLetters(ctx, queue, 0, 5)
	if err != nil || len(dead) != 1 || dead[0].Error != s || dead[0].Facet != s {
		t.Fatalf("DeadLetters: %+v, %v; want one with reason and facet %q", dead, err, s)
	}
	if n, err := b.RequeueDead(ctx, queue, dead[0].ID); err != nil || n != 1 {
		t.Fatalf("RequeueDead: %d, %v", n, err)
	}
	ack(t, b, pull(t, b, queue))
	wantStats(t, b, queue, broker.QueueStats{Routed: true})
	testutil.RequireQueueInvariants(t, b.Client(), b.Namespace(), queue)
}
