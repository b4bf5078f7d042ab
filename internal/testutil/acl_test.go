package testutil

import (
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestACLRules(t *testing.T) {
	t.Parallel()
	p, w := ProducerACL("app"), WorkerACL("app")
	for _, want := range []string{"~app:*", "&app:*", "&app/wake/*", "+evalsha", "+publish", "+hgetall", "+zadd"} {
		if !slices.Contains(p, want) {
			t.Errorf("producer rules %v lack %s", p, want)
		}
	}
	for _, want := range []string{"~app:*", "&app/wake/*", "+subscribe", "+ping", "+info", "+zadd"} {
		if !slices.Contains(w, want) {
			t.Errorf("worker rules %v lack %s", w, want)
		}
	}
	for _, rules := range [][]string{p, w} {
		for _, r := range rules {
			if strings.Contains(r, "@") || r == "+keys" || r == "+flushall" || r == "+scan" || r == "allkeys" || r == "allchannels" {
				t.Errorf("rule %s is more than Fairway needs", r)
			}
		}
	}
	if slices.Contains(w, "&app:*") {
		t.Error("the worker may publish on topic channels")
	}
	want := "ACL SETUSER u reset on >pw ~app:* &app/wake/* +"
	if got := ACLSetUserCommand("u", "pw", w); !strings.HasPrefix(got, want) {
		t.Errorf("ACLSetUserCommand = %q, want it to start %q", got, want)
	}
}

func TestSetACLUser(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	admin := newClient(t, s)
	ctx := t.Context()
	if err := SetACLUser(ctx, admin, "u", "pw", []string{"~app:*", "+get"}); err != nil {
		t.Fatal(err)
	}
	u := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "u", Password: "pw"})
	t.Cleanup(func() { _ = u.Close() })
	if err := u.Get(ctx, "app:x").Err(); err != redis.Nil { //nolint:errorlint // redis.Nil is returned as is
		t.Fatalf("GET app:x: %v", err)
	}
	if err := u.Get(ctx, "other:x").Err(); err == nil {
		t.Fatal("GET other:x was allowed")
	}
	if err := u.Set(ctx, "app:x", 1, 0).Err(); err == nil {
		t.Fatal("SET was allowed")
	}
	denied, err := ACLDenials(ctx, admin, "u")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(denied)
	if want := []string{"command set (toplevel)", "key other:x (toplevel)"}; !slices.Equal(denied, want) {
		t.Errorf("ACLDenials = %q, want %q", denied, want)
	}
	if err := SetACLUser(ctx, admin, "bad", "pw", []string{"+nosuchcommand"}); err == nil {
		t.Error("SetACLUser accepted an unknown command")
	}
}
