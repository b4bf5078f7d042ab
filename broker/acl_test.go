package broker_test

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// aclServer starts a private redis-server and returns it with an admin
// client (the default user).
func aclServer(t *testing.T) (*testutil.Server, *redis.Client) {
	t.Helper()
	srv := testutil.StartServerT(t)
	admin := srv.Client()
	t.Cleanup(func() { _ = admin.Close() })
	return srv, admin
}

// aclClient creates user with rules and returns a client logged in as it.
func aclClient(t *testing.T, srv *testutil.Server, admin *redis.Client, user string, rules []string) *redis.Client {
	t.Helper()
	if err := testutil.SetACLUser(t.Context(), admin, user, "pw-"+user, rules); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: user, Password: "pw-" + user})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// requireNoDenials fails t if the ACL LOG recorded anything for user.
func requireNoDenials(t *testing.T, admin *redis.Client, user string) {
	t.Helper()
	denied, err := testutil.ACLDenials(t.Context(), admin, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) > 0 {
		t.Fatalf("the ACL refused user %s: %v", user, denied)
	}
}

// produce delivers, under the producer's rules, after a SCRIPT FLUSH so
// that the scripts must be sent again with EVAL: single and batched
// deliveries, a delayed one and an idempotent one.
func produce(t *testing.T, admin *redis.Client, b *broker.Broker) {
	t.Helper()
	ctx := t.Context()
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Deliver(ctx, map[string]any{"topic": "t.a", "facet": "f", "n": 1}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	err := b.DeliverBatch(ctx, []broker.Delivery{
		{Topic: "t.a", Facet: "g", Body: []byte("2")},
		{Topic: "t.a", Facet: "f", Body: []byte("3"), Delay: time.Millisecond},
		{Topic: "t.a", Facet: "f", Body: []byte("4"), IdempotencyKey: "k"},
		{Topic: "t.a", Facet: "f", Body: []byte("4 again"), IdempotencyKey: "k"},
	})
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
}

// consume pulls, under the worker's rules, with every way to end a lease.
func consume(t *testing.T, b *broker.Broker) {
	t.Helper()
	ctx := t.Context()
	w, err := b.Watch(ctx, "q")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer func() { _ = w.Close() }()
	var ms []*broker.Message
	testutil.Eventually(t, waitTimeout, func() bool {
		got, err := leaseN(ctx, b, "q", 10, 50*time.Millisecond)
		if err != nil {
			t.Fatalf("PullWith: %v", err)
		}
		ms = append(ms, got...)
		return len(ms) >= 4
	}, "the 4 messages delivered")
	settle := []func(m *broker.Message) error{
		func(m *broker.Message) error { return b.Ack(ctx, m) },
		func(m *broker.Message) error { return b.Extend(ctx, m, time.Minute) },
		func(m *broker.Message) error { return b.Release(ctx, m) },
		func(m *broker.Message) error { return b.Kill(ctx, m, "no") },
	}
	for i, m := range ms {
		if err := settle[i%len(settle)](m); err != nil {
			t.Fatalf("settle %d: %v", i, err)
		}
	}
	// Pulls reclaim expired leases and retry nacked messages too.
	m := eventuallyPull(t, b, "q")
	if err := b.Nack(ctx, m, time.Millisecond); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	ack(t, b, eventuallyPull(t, b, "q"))
}

// TestACLProducerAndConsumer runs a producer and a consumer each under the
// ACL user the README documents, on a server where SCRIPT FLUSH has emptied
// the script cache: every call works and the ACL LOG stays empty.
func TestACLProducerAndConsumer(t *testing.T) {
	t.Parallel()
	srv, admin := aclServer(t)
	ctx := t.Context()
	ns := testutil.Namespace(t)
	// RegisterQueue as the worker user, as examples/worker does at start.
	worker := newBroker(t, aclClient(t, srv, admin, "worker", testutil.WorkerACL(ns)), broker.Config{Namespace: ns})
	producer := newBroker(t, aclClient(t, srv, admin, "producer", testutil.ProducerACL(ns)), broker.Config{Namespace: ns})
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	register(t, worker, "q", `^t\.`)
	produce(t, admin, producer)
	consume(t, worker)
	requireNoDenials(t, admin, "producer")
	requireNoDenials(t, admin, "worker")
}

// TestACLMinimal takes each command the producer's rules grant it, apart
// from those its scripts call, away in turn: the producer must then be
// refused, so that none of them is granted for nothing.
func TestACLMinimal(t *testing.T) {
	t.Parallel()
	srv, admin := aclServer(t)
	ns := testutil.Namespace(t)
	setup := newBroker(t, admin, broker.Config{Namespace: ns})
	register(t, setup, "q", `^t\.`)
	// One at a time: each flushes the server's script cache.
	for i, cmd := range testutil.ACLProducerCommands {
		t.Run(cmd, func(t *testing.T) {
			user := "producer-" + cmd
			rules := slices.DeleteFunc(testutil.ProducerACL(ns), func(r string) bool { return r == "+"+cmd })
			if len(rules) == len(testutil.ProducerACL(ns)) {
				t.Fatalf("+%s is not in the rules %v", cmd, rules)
			}
			b := newBroker(t, aclClient(t, srv, admin, user, rules), broker.Config{Namespace: ns})
			if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			_ = b.DeliverBytes(t.Context(), "t.a", "f", []byte{byte(i)})
			denied, err := testutil.ACLDenials(t.Context(), admin, user)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(denied, func(d string) bool { return strings.Contains(d, " "+cmd+" ") }) {
				t.Fatalf("without +%s the producer was refused only %v: the rule is not needed", cmd, denied)
			}
		})
	}
}

// TestACLOtherNamespace gives a user the rules of one namespace and has it
// use another: every call is refused, and nothing is written there.
func TestACLOtherNamespace(t *testing.T) {
	t.Parallel()
	srv, admin := aclServer(t)
	ctx := t.Context()
	mine, theirs := testutil.Namespace(t), testutil.Namespace(t)
	owner := newBroker(t, admin, broker.Config{Namespace: theirs})
	register(t, owner, "q", ".")
	deliver(t, owner, "t", "f", "theirs")
	before := snapshot(t, owner)

	rules := slices.Concat(testutil.ProducerACL(mine), testutil.WorkerACL(mine))
	b := newBroker(t, aclClient(t, srv, admin, "intruder", rules), broker.Config{Namespace: theirs})
	calls := map[string]func() error{
		"RegisterQueue": func() error { return b.RegisterQueue(ctx, "q2", ".") },
		"Deliver":       func() error { return b.DeliverBytes(ctx, "t", "f", []byte("x")) },
		"Pull":          func() error { _, err := b.Pull(ctx, "q"); return err },
		"Watch":         func() error { _, err := b.Watch(ctx, "q"); return err },
		"Subscribe":     func() error { _, err := b.Subscribe(ctx, "*"); return err },
	}
	// Redis words a refusal as NOPERM at the top level, "can't run" inside
	// a script, and EXECABORT for a transaction (the registry's read).
	refusal := regexp.MustCompile(`NOPERM|can't run this command|EXECABORT`)
	for name, call := range calls {
		if err := call(); err == nil || !refusal.MatchString(err.Error()) {
			t.Errorf("%s in another namespace: %v, want a permission error", name, err)
		}
	}
	denied, err := testutil.ACLDenials(ctx, admin, "intruder")
	if err != nil || len(denied) < len(calls) {
		t.Errorf("ACL LOG for the intruder: %v, %v; want a refusal per call", denied, err)
	}
	if after := snapshot(t, owner); !maps.Equal(before, after) {
		t.Errorf("the refused calls changed the other namespace:\nbefore %v\nafter  %v", before, after)
	}
	if m := pull(t, owner, "q"); string(m.Body) != "theirs" {
		t.Fatalf("owner pulled %q", m.Body)
	}
}

// TestACLDocumented checks that the README shows the exact ACL commands the
// tests run producers and workers under.
func TestACLDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for user, rules := range map[string][]string{
		"fairway-producer": testutil.ProducerACL("myapp"),
		"fairway-worker":   testutil.WorkerACL("myapp"),
	} {
		want := testutil.ACLSetUserCommand(user, "<password>", rules)
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks the rules of %s; it should say:\n%s", user, want)
		}
	}
}

// TestACLSubscriber checks the rules the README gives a Subscribe user:
// Redis matches a pattern subscription against channel rules literally, so
// the rule must be the exact pattern subscribed to.
func TestACLSubscriber(t *testing.T) {
	t.Parallel()
	srv, admin := aclServer(t)
	ctx := t.Context()
	ns := testutil.Namespace(t)
	exact := newBroker(t, aclClient(t, srv, admin, "exact", []string{"&" + ns + ":orders.*", "+psubscribe", "+ping"}), broker.Config{Namespace: ns})
	wide := newBroker(t, aclClient(t, srv, admin, "wide", []string{"&" + ns + ":*", "+psubscribe", "+ping"}), broker.Config{Namespace: ns})
	sub, err := exact.Subscribe(ctx, "orders.*")
	if err != nil {
		t.Fatalf("Subscribe with the exact rule: %v", err)
	}
	defer func() { _ = sub.Close() }()
	producer := newBroker(t, admin, broker.Config{Namespace: ns})
	deliver(t, producer, "orders.created", "f", "x")
	if ev := nextEvent(t, sub); ev.Topic != "orders.created" {
		t.Fatalf("event %q", ev.Topic)
	}
	for name, call := range map[string]func() error{
		"another pattern":             func() error { _, err := exact.Subscribe(ctx, "users.*"); return err },
		"a pattern under a wide rule": func() error { _, err := wide.Subscribe(ctx, "orders.*"); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("Subscribe to %s: %v, want NOPERM", name, err)
		}
	}
	if s, err := wide.Subscribe(ctx, "*"); err != nil {
		t.Errorf("Subscribe(*) under &%s:*: %v", ns, err)
	} else {
		_ = s.Close()
	}
}
