package cli_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/cli"
)

// unroutedQueue registers oldq, delivers one message to it and unregisters
// it: it keeps the message.
func (e *env) unroutedQueue() {
	e.t.Helper()
	e.run(0, "register", "oldq", "^old$")
	e.run(0, "register", "live", "^live$")
	e.run(0, "deliver", `{"topic":"old","n":1}`)
	e.run(0, "unregister", "oldq")
}

// runTerminal runs the command as if stdin were a terminal where the
// operator types typed.
func (e *env) runTerminal(wantCode int, typed string, args ...string) result {
	e.t.Helper()
	var out, errb syncBuffer
	code := cli.Run(e.t.Context(), append(args, "--redis", e.url, "--namespace", e.ns), cli.Env{
		Stdin: strings.NewReader(typed), Stdout: &out, Stderr: &errb,
		Getenv:          func(string) string { return "" },
		InputIsTerminal: func(io.Reader) bool { return true },
	})
	r := result{code, out.String(), errb.String()}
	if r.code != wantCode {
		e.t.Fatalf("fairway %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, wantCode, r.stdout, r.stderr)
	}
	return r
}

// An unregistered queue that still holds a message is listed by "fairway
// queues", with no pattern and state unrouted, in the table and in JSON.
func TestQueuesListsUnrouted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.unroutedQueue()
	r := e.run(0, "queues")
	var line string
	for l := range strings.Lines(r.stdout) {
		if strings.HasPrefix(l, "oldq ") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) != 8 || f[1] != "-" || f[2] != "1" || f[7] != "unrouted" {
		t.Errorf("queues lists oldq as %q, want pattern -, 1 ready, unrouted:\n%s", line, r.stdout)
	}
	mustContain(t, r.stdout, "live ", "active")
	r = e.run(0, "queues", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("queues --json: %v\n%s", err, r.stdout)
	}
	found := false
	for _, row := range rows {
		if row["queue"] == "oldq" {
			found = true
			if row["state"] != "unrouted" || row["pattern"] != nil || row["routed"] != false || row["ready"] != 1.0 {
				t.Errorf("queues --json lists oldq as %v", row)
			}
		}
	}
	if !found || len(rows) != 2 {
		t.Errorf("queues --json = %s, want oldq and live", r.stdout)
	}
}

// "fairway destroy" asks for the queue's name on a terminal, and destroys
// the queue only when it is typed; without a terminal it refuses unless
// --yes. A refusal changes nothing.
func TestDestroyConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.unroutedQueue()
	kept := func(when string) {
		t.Helper()
		if st := e.stats("oldq"); st.Ready != 1 {
			t.Fatalf("%s: oldq holds %+v, want its message", when, st)
		}
	}
	r := e.run(cli.ExitUsage, "destroy", "oldq")
	mustContain(t, r.stderr, "not a terminal", "--yes")
	kept("without a terminal")
	r = e.runTerminal(cli.ExitUsage, "old\n", "destroy", "oldq")
	mustContain(t, r.stderr, `Type the queue's name`, `1 message(s)`, `you typed "old"`, "nothing was destroyed")
	kept("after a wrong name")
	e.runTerminal(cli.ExitUsage, "", "destroy", "oldq")
	kept("after no answer")
	e.run(cli.ExitNotFound, "destroy", "nosuch", "--yes")
	e.run(cli.ExitUsage, "destroy", "bad name", "--yes")
	r = e.runTerminal(0, "oldq\n", "destroy", "oldq")
	mustContain(t, r.stdout, `destroyed queue "oldq" and the 1 message(s)`)
	if _, err := e.b.Stats(t.Context(), "oldq"); !errors.Is(err, broker.ErrUnknownQueue) {
		t.Errorf("after destroy, Stats(oldq) = %v, want ErrUnknownQueue", err)
	}
	r = e.run(0, "queues")
	if strings.Contains(r.stdout, "oldq") || !strings.Contains(r.stdout, "live") {
		t.Errorf("queues after destroy:\n%s", r.stdout)
	}
	r = e.run(0, "destroy", "live", "--yes", "--json")
	var out struct {
		Queue     string `json:"queue"`
		Destroyed bool   `json:"destroyed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Queue != "live" || !out.Destroyed {
		t.Errorf("destroy --json = %s (%v)", r.stdout, err)
	}
}

// The built binary, its stdin not a terminal (/dev/null), refuses to
// destroy without --yes, and destroys with it.
func TestDestroyBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.unroutedQueue()
	bin := buildFairway(t)
	flags := []string{"--redis", e.url, "--namespace", e.ns}
	code, stderr := runBinary(t, bin, append([]string{"destroy", "oldq"}, flags...)...)
	if code != cli.ExitUsage || !strings.Contains(stderr, "refusing to destroy") {
		t.Errorf("destroy without --yes: exit %d, %q; want %d, refusing", code, stderr, cli.ExitUsage)
	}
	if st := e.stats("oldq"); st.Ready != 1 {
		t.Fatalf("a refused destroy changed oldq: %+v", st)
	}
	if code, stderr := runBinary(t, bin, append([]string{"destroy", "oldq", "--yes"}, flags...)...); code != 0 {
		t.Fatalf("destroy --yes: exit %d, %q", code, stderr)
	}
	if _, err := e.b.Stats(t.Context(), "oldq"); !errors.Is(err, broker.ErrUnknownQueue) {
		t.Errorf("after destroy --yes, Stats(oldq) = %v, want ErrUnknownQueue", err)
	}
}
