package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
)

// "fairway dead list" shows a panic's stack with --stack (and says so
// without it), and always in --json as "stack".
func TestDeadListStack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.run(0, "register", "q", ".")
	e.run(0, "deliver", `{"topic":"t","facet":"a"}`)
	e.run(0, "deliver", `{"topic":"t","facet":"b"}`)
	stack := "goroutine 1 [running]:\nmain.handle()\n\t/src/main.go:12 +0x1d\n"
	for range 2 {
		m, err := e.b.Pull(ctx, "q")
		if err != nil || m == nil {
			t.Fatal(m, err)
		}
		var opts []broker.NackOption
		if m.Facet == "a" {
			opts = append(opts, broker.WithStack(stack))
		}
		if err := e.b.Kill(ctx, m, "died "+m.Facet, opts...); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run(0, "dead", "list", "q")
	mustContain(t, r.stdout, "1 of these keep a panic's stack: add --stack")
	if strings.Contains(r.stdout, "main.go:12") {
		t.Errorf("dead list prints a stack without --stack:\n%s", r.stdout)
	}
	r = e.run(0, "dead", "list", "q", "--stack")
	mustContain(t, r.stdout, "(died a):\n"+stack)
	if strings.Contains(r.stdout, "(died b)") {
		t.Errorf("dead list --stack prints a stack for a letter without one:\n%s", r.stdout)
	}
	r = e.run(0, "dead", "list", "q", "--json")
	var rows []struct {
		Facet string `json:"facet"`
		Error string `json:"error"`
		Stack string `json:"stack"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("dead list --json = %s (%v)", r.stdout, err)
	}
	for _, row := range rows {
		if want := map[string]string{"a": stack, "b": ""}[row.Facet]; row.Stack != want || row.Error != "died "+row.Facet {
			t.Errorf("dead list --json row %+v, want stack %q", row, want)
		}
	}
}
