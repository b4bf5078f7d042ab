package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/cli"
	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// env is one test's Redis and namespace.
type env struct {
	t   *testing.T
	url string
	ns  string
	b   *broker.Broker
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb := testutil.RealRedis(t)
	ns := testutil.Namespace(t)
	b, err := broker.New(rdb, broker.Config{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: "redis://" + rdb.Options().Addr + "/0", ns: ns, b: b}
}

// result is one run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer safe for a command running in another
// goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (e *env) runCtx(ctx context.Context, stdin string, args ...string) (result, *syncBuffer, *syncBuffer) {
	var out, errb syncBuffer
	code := cli.Run(ctx, append(args, "--redis", e.url, "--namespace", e.ns), cli.Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" },
	})
	return result{code, out.String(), errb.String()}, &out, &errb
}

// run runs the command with args and checks its exit code.
func (e *env) run(wantCode int, args ...string) result {
	e.t.Helper()
	return e.runIn(wantCode, "", args...)
}

func (e *env) runIn(wantCode int, stdin string, args ...string) result {
	e.t.Helper()
	r, _, _ := e.runCtx(e.t.Context(), stdin, args...)
	if r.code != wantCode {
		e.t.Fatalf("fairway %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
	}
	return r
}

func (e *env) stats(queue string) broker.QueueStats {
	e.t.Helper()
	st, err := e.b.Stats(e.t.Context(), queue)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func mustContain(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("output lacks %q:\n%s", sub, s)
		}
	}
}

// deliver --max-attempts gives the message its budget; a bad one is a
// usage error that delivers nothing.
func TestDeliverMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	e.run(0, "deliver", `{"n":1}`, "--max-attempts", "3")
	for _, bad := range []string{"-1", "10001"} {
		r := e.run(2, "deliver", `{"n":2}`, "--max-attempts", bad)
		mustContain(t, r.stderr, "--max-attempts "+bad)
	}
	ms, err := e.b.PullN(t.Context(), "q", 10)
	if err != nil || len(ms) != 1 || ms[0].MaxAttempts != 3 {
		t.Fatalf("PullN = %v, %v; want one message with MaxAttempts 3", ms, err)
	}
}

// ttl sets, shows and removes a queue's default TTL and its policy, stats
// shows them, and deliver --ttl gives a message its own: one not started
// within it expires, counted in stats.
func TestTTLCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	r := e.run(0, "ttl", "q")
	mustContain(t, r.stdout, "never expires", "become dead letters", "(0 so far)")
	e.run(0, "ttl", "q", "1h30m", "--drop")
	if st := e.stats("q"); st.MessageTTL != 90*time.Minute || st.ExpiryPolicy != broker.ExpireDrop {
		t.Errorf("after ttl q 1h30m --drop: TTL %v, policy %v", st.MessageTTL, st.ExpiryPolicy)
	}
	r = e.run(0, "ttl", "q")
	mustContain(t, r.stdout, "expires if not started within 1h30m0s", "are dropped")
	r = e.run(0, "stats", "q")
	if !regexp.MustCompile(`(?m)^ttl\s+1h30m0s$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^expiry-policy\s+drop$`).MatchString(r.stdout) {
		t.Errorf("stats shows no ttl 1h30m0s and expiry-policy drop:\n%s", r.stdout)
	}
	e.run(0, "ttl", "q", "0", "--dead-letter")
	if st := e.stats("q"); st.MessageTTL != 0 || st.ExpiryPolicy != broker.ExpireDeadLetter {
		t.Errorf("after ttl q 0 --dead-letter: TTL %v, policy %v", st.MessageTTL, st.ExpiryPolicy)
	}
	e.run(0, "deliver", `{"n":1}`, "--ttl", "50ms")
	e.run(0, "deliver", `{"n":2}`, "--ttl", "1h")
	time.Sleep(100 * time.Millisecond) // this machine's clock, Redis's too: one redis-server here
	ms, err := e.b.PullN(t.Context(), "q", 10)
	if err != nil || len(ms) != 1 || string(ms[0].Body) != `{"n":2}` {
		t.Fatalf("PullN = %v, %v; want only the message with a TTL of 1h", ms, err)
	}
	r = e.run(0, "stats", "q")
	if !regexp.MustCompile(`(?m)^expired\s+1$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^dead\s+1$`).MatchString(r.stdout) {
		t.Errorf("stats shows not 1 expired and 1 dead:\n%s", r.stdout)
	}
}

func TestQueuesStatsAndDeliver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "queues") // none yet
	e.run(0, "register", "emails", `^email\.`)
	e.run(0, "register", "all", ".")
	r := e.run(0, "deliver", `{"topic":"email.welcome","facet":"acme","to":"a@acme.test"}`)
	mustContain(t, r.stdout, `"email.welcome"`, `"acme"`, "[all emails]")
	e.runIn(0, `{"to":"b@globex.test"}`, "deliver", "--topic", "email.digest", "--facet", "globex")
	r = e.run(0, "deliver", `{"topic":"sms.send"}`, "--json")
	var dr struct{ Queues []string }
	if err := json.Unmarshal([]byte(r.stdout), &dr); err != nil || len(dr.Queues) != 1 || dr.Queues[0] != "all" {
		t.Errorf("deliver --json = %s (%v), want queues [all]", r.stdout, err)
	}

	r = e.run(0, "queues")
	if !regexp.MustCompile(`(?m)^emails\s+\^email\\\.\s+2\s+0\s+0\s+0\s+2\s+active$`).MatchString(r.stdout) {
		t.Errorf("queues table lacks the emails row:\n%s", r.stdout)
	}
	r = e.run(0, "queues", "--json")
	var rows []struct {
		Queue string
		Ready int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 || rows[0].Queue != "all" || rows[0].Ready != 3 {
		t.Errorf("queues --json = %s (%v)", r.stdout, err)
	}
	r = e.run(0, "stats", "emails", "--json")
	var st struct {
		Ready   int64   `json:"ready"`
		Facets  int64   `json:"facets"`
		Pattern *string `json:"pattern"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Ready != 2 || st.Facets != 2 || st.Pattern == nil || *st.Pattern != `^email\.` {
		t.Errorf("stats --json = %s (%v)", r.stdout, err)
	}
	r = e.run(0, "stats", "emails")
	mustContain(t, r.stdout, "ready", "in-flight-limit")

	e.run(0, "unregister", "emails")
	if e.stats("emails").Routed {
		t.Error("emails is still routed after unregister")
	}
}

func TestFacetControls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	for i, f := range []string{"big", "big", "big", "small"} {
		e.run(0, "deliver", fmt.Sprintf(`{"facet":%q,"i":%d}`, f, i))
	}
	r := e.run(0, "facets", "q", "--top", "1")
	if !regexp.MustCompile(`(?m)^big\s+3\s+0\s+1\s+active\s+off\s+-\s+none\s+none$`).MatchString(r.stdout) || strings.Contains(r.stdout, "small") {
		t.Errorf("facets --top 1:\n%s", r.stdout)
	}
	e.run(0, "priority", "q", "big", "3")
	e.run(0, "pause", "q", "small")
	e.run(0, "limit", "q", "2")
	r = e.run(0, "facets", "q", "--json")
	var fs []struct {
		Priority int  `json:"priority"`
		Paused   bool `json:"paused"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil || len(fs) != 2 || fs[0].Priority != 3 || !fs[1].Paused {
		t.Errorf("facets --json = %s (%v)", r.stdout, err)
	}
	if st := e.stats("q"); st.InflightLimit != 2 {
		t.Errorf("limit = %d, want 2", st.InflightLimit)
	}
	r = e.run(0, "attempts", "q")
	mustContain(t, r.stdout, "producer's default")
	e.run(0, "attempts", "q", "4")
	if st := e.stats("q"); st.MaxAttempts != 4 {
		t.Errorf("attempts = %d, want 4", st.MaxAttempts)
	}
	r = e.run(0, "attempts", "q")
	mustContain(t, r.stdout, "4 deliveries")
	r = e.run(0, "migrate")
	mustContain(t, r.stdout, "1 queue(s) in this key layout: q")
	r = e.run(0, "stats", "q")
	if !regexp.MustCompile(`(?m)^max-attempts\s+4$`).MatchString(r.stdout) {
		t.Errorf("stats shows no max-attempts 4:\n%s", r.stdout)
	}
	e.run(0, "resume", "q", "small")
	e.run(0, "pause", "q")
	if !e.stats("q").Paused {
		t.Error("queue not paused")
	}
	e.run(0, "resume", "q")
	if e.stats("q").Paused {
		t.Error("queue still paused")
	}
}

func TestPeek(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	e.run(0, "deliver", `{"facet":"a","n":1}`)
	e.run(0, "deliver", `{"facet":"a","n":2}`)
	e.run(0, "deliver", `{"facet":"b","n":3}`)
	r := e.run(0, "peek", "q", "--json")
	var rows []struct {
		Facet string
		Body  map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("peek --json = %s (%v)", r.stdout, err)
	}
	if rows[0].Facet != "a" || rows[1].Facet != "b" || rows[2].Facet != "a" || rows[2].Body["n"] != 2.0 {
		t.Errorf("peek order = %+v, want a, b, a", rows)
	}
	r = e.run(0, "peek", "q", "-n", "1")
	mustContain(t, r.stdout, "ID", `\"n\":1`)
	if e.stats("q").InFlight != 0 {
		t.Error("peek leased messages")
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	for i := range 7 {
		e.run(0, "deliver", fmt.Sprintf(`{"facet":"f","i":%d}`, i))
	}
	ms, err := e.b.PullN(t.Context(), "q", 7)
	if err != nil || len(ms) != 7 {
		t.Fatalf("PullN: %d, %v", len(ms), err)
	}
	for _, m := range ms {
		if err := e.b.Kill(t.Context(), m, "boom <b>"); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run(0, "dead", "list", "q", "--limit", "2")
	mustContain(t, r.stdout, "boom <b>", "1-2 of 7 dead letters")
	r = e.run(0, "dead", "list", "q", "--json")
	var rows []struct{ ID, Error string }
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 7 || rows[0].Error != "boom <b>" {
		t.Fatalf("dead list --json = %s (%v)", r.stdout, err)
	}
	e.run(0, "dead", "requeue", "q", rows[0].ID)
	e.run(0, "dead", "purge", "q", rows[1].ID)
	e.run(3, "dead", "purge", "q", rows[1].ID) // gone already
	r = e.run(0, "dead", "requeue", "q", "--all", "--progress")
	mustContain(t, r.stdout, "requeued 5 dead letter(s)")
	mustContain(t, r.stderr, "100% 5/5")
	if st := e.stats("q"); st.Dead != 0 || st.Ready != 6 {
		t.Errorf("after requeue --all: %+v, want 0 dead, 6 ready", st)
	}
	r = e.run(0, "dead", "purge", "q", "--all")
	if r.stderr != "" {
		t.Errorf("progress drawn without a terminal or --progress: %q", r.stderr)
	}
	e.run(2, "dead", "requeue", "q")               // neither IDs nor --all
	e.run(2, "dead", "requeue", "q", "x", "--all") // both
	e.run(2, "dead", "bury", "q")                  // unknown verb
	e.run(3, "dead", "list", "nope")               // unknown queue
	e.run(3, "dead", "requeue", "nope", "--all")   // unknown queue
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	cases := []struct {
		name  string
		code  int
		stdin string
		args  []string
		want  string // in stderr
	}{
		{"unknown queue", 3, "", []string{"stats", "nope"}, "fairway queues"},
		{"unknown queue facets", 3, "", []string{"facets", "nope"}, "unknown queue"},
		{"unknown queue peek", 3, "", []string{"peek", "nope"}, "unknown queue"},
		{"unknown queue priority", 3, "", []string{"priority", "nope", "f", "2"}, "unknown queue"},
		{"unknown queue unregister", 3, "", []string{"unregister", "nope"}, "unknown queue"},
		{"unknown queue partitions", 3, "", []string{"partitions", "nope"}, "unknown queue"},
		{"unknown queue repartition", 3, "", []string{"partitions", "nope", "2"}, "unknown queue"},
		{"bad partition count", 2, "", []string{"partitions", "q", "two"}, "not a whole number"},
		{"partition count out of range", 2, "", []string{"partitions", "q", "0"}, "outside"},
		{"register bad partitions", 2, "", []string{"register", "--partitions", "-2", "q3", "."}, "outside"},
		{"bad queue name", 2, "", []string{"stats", "a b"}, "invalid queue name"},
		{"bad pattern", 2, "", []string{"register", "q2", "a("}, "invalid pattern"},
		{"bad JSON", 2, "", []string{"deliver", `{"topic":`}, "not a JSON object"},
		{"JSON not an object", 2, "", []string{"deliver", `[1,2]`}, "not a JSON object"},
		{"bad JSON on stdin", 2, "nope", []string{"deliver"}, "not a JSON object"},
		{"bad priority", 2, "", []string{"priority", "q", "f", "high"}, "not a whole number"},
		{"priority out of range", 2, "", []string{"priority", "q", "f", "5000"}, "outside"},
		{"negative limit", 2, "", []string{"limit", "q", "-1"}, "outside"},
		{"negative attempts", 2, "", []string{"attempts", "q", "-1"}, "outside"},
		{"attempts over the limit", 2, "", []string{"attempts", "q", "10001"}, "outside"},
		{"attempts not a number", 2, "", []string{"attempts", "q", "many"}, "not a whole number"},
		{"unknown queue attempts", 3, "", []string{"attempts", "nope", "3"}, "unknown queue"},
		{"ttl below 1ms", 2, "", []string{"ttl", "q", "10us"}, "want 0 or at least 1ms"},
		{"ttl not a duration", 2, "", []string{"ttl", "q", "soon"}, "not a duration"},
		{"ttl both policies", 2, "", []string{"ttl", "q", "--drop", "--dead-letter"}, "give one"},
		{"unknown queue ttl", 3, "", []string{"ttl", "nope", "1h"}, "unknown queue"},
		{"deliver negative ttl", 2, "", []string{"deliver", `{"n":1}`, "--ttl", "-1s"}, "--ttl -1s"},
		{"deliver ttl within delay", 2, "", []string{"deliver", `{"n":1}`, "--ttl", "1s", "--delay", "2s"}, "more than --delay"},
		{"unknown queue migrate", 3, "", []string{"migrate", "nope"}, "unknown queue"},
		{"bad queue migrate", 2, "", []string{"migrate", "a b"}, "invalid queue name"},
		{"missing args", 2, "", []string{"stats"}, "want QUEUE"},
		{"extra args", 2, "", []string{"queues", "x"}, "no arguments"},
		{"unknown flag", 2, "", []string{"queues", "--bogus"}, "bogus"},
		{"unknown command", 2, "", []string{"frobnicate"}, "fairway help"},
		{"public dash", 2, "", []string{"dash", "--addr", "0.0.0.0:0"}, "--token or --basic-auth"},
		{"bad basic auth", 2, "", []string{"dash", "--basic-auth", "nopass"}, "USER:PASSWORD"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _, _ := e.runCtx(t.Context(), tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}

func TestUnreachableRedis(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := cli.Run(t.Context(), []string{"queues", "--redis", "redis://127.0.0.1:1/0", "--timeout", "2s"},
		cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != cli.ExitUnavailable || !strings.Contains(errb.String(), "cannot reach Redis at 127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

func TestBadConnectionFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"queues", "--redis", "http://x"}, "bad --redis URL"},
		{[]string{"queues", "--redis", e.url, "--namespace", "a b"}, "bad --namespace"},
	} {
		var out, errb bytes.Buffer
		code := cli.Run(t.Context(), tc.args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != cli.ExitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errb.String())
		}
	}
}

func TestRedisURLFromEnv(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"REDIS_URL": e.url, "FAIRWAY_NAMESPACE": e.ns}[k]
	}
	code := cli.Run(t.Context(), []string{"queues"}, cli.Env{Stdout: &out, Stderr: &errb, Getenv: getenv})
	if code != 0 || !strings.Contains(out.String(), "q ") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"help", "dead"}, {"dead", "--help"}, {"deliver", "-h"}} {
		var out, errb bytes.Buffer
		code := cli.Run(t.Context(), args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != 0 || !strings.Contains(out.String(), "Usage: fairway") {
			t.Errorf("%v: exit %d, stdout %q", args, code, out.String())
		}
	}
	var out bytes.Buffer
	if code := cli.Run(t.Context(), nil, cli.Env{Stdout: &out, Stderr: &out}); code != cli.ExitUsage {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	var out, errb *syncBuffer
	started := make(chan struct{})
	go func() {
		var r result
		r, out, errb = func() (result, *syncBuffer, *syncBuffer) {
			close(started)
			return e.runCtx(ctx, "", "tail", "email.*")
		}()
		done <- r.code
	}()
	<-started
	// Deliver until tail has subscribed and printed one: pub/sub keeps
	// nothing for late subscribers.
	got := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !got; {
		if err := e.b.DeliverBytes(t.Context(), "email.welcome", "acme", []byte(`{"to":"x"}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.b.DeliverBytes(t.Context(), "sms.send", "acme", []byte(`sms`)); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-done:
			t.Fatalf("tail exited early with %d", code)
		case <-time.After(50 * time.Millisecond):
		}
		got = tailOutput(out) != ""
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("tail exit %d: %s", code, errb.String())
	}
	s := out.String()
	if !strings.Contains(s, `email.welcome "{\"to\":\"x\"}"`) || strings.Contains(s, "sms") {
		t.Errorf("tail output:\n%s", s)
	}
}

// tailOutput reads a buffer that may not be set yet.
func tailOutput(b *syncBuffer) string {
	if b == nil {
		return ""
	}
	return b.String()
}

func TestDashCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- cli.Run(ctx, []string{"dash", "--addr", "127.0.0.1:0", "--redis", e.url, "--namespace", e.ns},
			cli.Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	}()
	re := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)`)
	var addr string
	testutil.Eventually(t, 5*time.Second, func() bool {
		m := re.FindStringSubmatch(errb.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, "dash prints its address")
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), `href="/q/q"`) {
		t.Errorf("GET / = %d\n%s", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("dash exit %d: %s", code, errb.String())
	}
}

func TestPartitionsCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "--partitions", "3", "orders", ".")
	r := e.run(0, "partitions", "orders")
	for _, want := range []string{"PARTITION", "orders~1.0", "orders~1.1", "orders~1.2", "current"} {
		mustContain(t, r.stdout, want)
	}
	for i := range 9 {
		e.run(0, "deliver", fmt.Sprintf(`{"topic":"t","facet":"f%d"}`, i))
	}
	e.run(0, "partitions", "orders", "2")
	r = e.run(0, "partitions", "orders", "--json")
	var row struct {
		Count, Generation int
		Names, Draining   []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil || row.Count != 2 || row.Generation != 2 ||
		len(row.Names) != 2 || len(row.Draining) != 3 {
		t.Fatalf("partitions --json = %s (%v)", r.stdout, err)
	}
	r = e.run(0, "stats", "orders", "--json")
	mustContain(t, r.stdout, `"ready": 9`)
}

// fairway cap sets and shows admission control as typed, and a delivery
// past a cap exits 1 and says which facet and cap.
func TestCapCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	e.run(0, "cap", "q", "1")
	e.run(0, "cap", "q", "acme", "10")
	e.run(0, "cap", "--whole-queue", "q", "100")
	r := e.run(0, "cap", "q")
	for _, re := range []string{`(?m)^\(queue\)\s+1$`, `(?m)^acme\s+10$`, `holds at most 100 message`, `is refused; 0 dropped so far`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("cap q lacks %s:\n%s", re, r.stdout)
		}
	}
	e.run(0, "deliver", `{"facet":"beta","n":1}`)
	r = e.run(1, "deliver", `{"facet":"beta","n":2}`)
	if !strings.Contains(r.stderr, `facet "beta" holds its backlog cap of 1`) {
		t.Errorf("deliver past the cap: stderr %s", r.stderr)
	}
	e.run(0, "cap", "--policy", "drop", "q")
	e.run(0, "deliver", `{"facet":"beta","n":3}`)
	r = e.run(0, "stats", "q")
	for _, re := range []string{`(?m)^backlog-cap\s+1$`, `(?m)^queue-cap\s+100$`, `(?m)^backlog-policy\s+drop$`, `(?m)^dropped\s+1$`, `(?m)^dead\s+1$`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("stats q lacks %s:\n%s", re, r.stdout)
		}
	}
	e.run(2, "cap", "--whole-queue", "q", "acme", "5")
	e.run(2, "cap", "--policy", "drop", "--whole-queue", "q", "5")
}
