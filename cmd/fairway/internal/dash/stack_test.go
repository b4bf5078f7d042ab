package dash_test

import (
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/dash"
)

// killWithStack makes one message of facet "panicked" a dead letter of q
// with stack.
func killWithStack(t *testing.T, b *broker.Broker, stack string) {
	t.Helper()
	ctx := t.Context()
	if err := b.SetFacetPriority(ctx, "q", "acme", 0); err != nil { // out of the pull below
		t.Fatal(err)
	}
	if err := b.SetFacetPriority(ctx, "q", "globex", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverBytes(ctx, "t", "panicked", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	m, err := b.Pull(ctx, "q")
	if err != nil || m == nil || m.Facet != "panicked" {
		t.Fatalf("Pull = %+v, %v; want the panicked facet's message", m, err)
	}
	if err := b.Kill(ctx, m, "worker: handler panicked: boom", broker.WithStack(stack)); err != nil {
		t.Fatal(err)
	}
}

// The dead letters page shows a panic's stack, escaped, under the letter's
// error, and no stack section for a letter without one.
func TestDeadLetterStackShown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	killWithStack(t, f.b, "goroutine 9 [running]:\nmain.<b>handle</b>()\n\t/src/main.go:12 +0x1d\n")
	_, body := f.get(t, "/q/q/dead", nil)
	if n := strings.Count(body, `<details class="stack">`); n != 1 {
		t.Errorf("dead page has %d stack sections, want 1 (two letters, one with a stack)", n)
	}
	if !strings.Contains(body, "main.&lt;b&gt;handle&lt;/b&gt;()\n\t/src/main.go:12 &#43;0x1d") || strings.Contains(body, "<b>handle") {
		t.Errorf("dead page lacks the escaped stack:\n%s", body)
	}
}
