package dash_test

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// In a browser: an unregistered queue holding a message is on the
// overview as unrouted; a dead letter of a panic opens its stack; the queue
// is destroyed through its confirmation page, which refuses a wrong name.
func TestBrowserUnroutedDestroyAndStack(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	b, err := broker.New(testutil.RealRedis(t), broker.Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	bctx := t.Context()
	for q, p := range map[string]string{"emails": "^email$", "oldq": "^old$"} {
		if err := b.RegisterQueue(bctx, q, p); err != nil {
			t.Fatal(err)
		}
	}
	for topic, body := range map[string]string{"email": `{"to":"a@example.test"}`, "old": `{"left":"behind"}`} {
		if err := b.DeliverBytes(bctx, topic, "acme", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.UnregisterQueue(bctx, "oldq"); err != nil {
		t.Fatal(err)
	}
	m, err := b.Pull(bctx, "emails")
	if err != nil || m == nil {
		t.Fatal(m, err)
	}
	if err := b.Kill(bctx, m, "worker: handler panicked: boom", broker.WithStack(string(debug.Stack()))); err != nil {
		t.Fatal(err)
	}
	srv, ctx := serveDash(ctx, t, b)

	// The overview lists the unrouted queue with its message.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#queues`))); err != nil {
		t.Fatalf("overview: %v", err)
	}
	row := `tr[data-queue="oldq"] `
	if ready, state, pattern := text(ctx, t, row+"td.ready"), text(ctx, t, row+"td:last-child"), text(ctx, t, row+"td:nth-child(2)"); ready != "1" || state != "unrouted" || pattern != "–" {
		t.Errorf("overview shows oldq with ready %q, state %q, pattern %q; want 1, unrouted, –", ready, state, pattern)
	}
	screenshot(ctx, t, "unrouted.png")

	// The dead letter of the panic opens its stack.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/q/emails/dead"), chromedp.WaitVisible(chromedp.CSS(`#dead`)),
		chromedp.Click(chromedp.CSS(`details.stack summary`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`details.stack pre`))); err != nil {
		t.Fatalf("dead letter stack: %v", err)
	}
	if st := text(ctx, t, `details.stack pre`); !strings.HasPrefix(st, "goroutine ") || !strings.Contains(st, "TestBrowserUnroutedDestroyAndStack") {
		t.Errorf("the stack shown is %q", st)
	}
	screenshot(ctx, t, "dead-stack.png")

	// Destroy oldq from its page: a wrong name is refused and changes
	// nothing; its name destroys it.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/q/oldq"), chromedp.WaitVisible(chromedp.CSS(`#destroy-link`))); err != nil {
		t.Fatalf("queue page: %v", err)
	}
	screenshot(ctx, t, "unrouted-queue.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#destroy-link`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#destroy-form`))); err != nil {
		t.Fatalf("destroy page: %v", err)
	}
	if w := text(ctx, t, `#destroy-warning`); !strings.Contains(w, "deletes the 1 message(s)") {
		t.Errorf("destroy page warns %q", w)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#destroy-form input[name="confirm"]`), "old"),
		chromedp.Click(chromedp.CSS(`#destroy-form button`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`p.error`))); err != nil {
		t.Fatalf("destroy with a wrong name: %v", err)
	}
	if e := text(ctx, t, `p.error`); !strings.Contains(e, "nothing was destroyed") {
		t.Errorf("a wrong name says %q", e)
	}
	if st, err := b.Stats(bctx, "oldq"); err != nil || st.Ready != 1 {
		t.Fatalf("a wrong name changed oldq: %+v, %v", st, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/q/oldq/destroy"), chromedp.WaitVisible(chromedp.CSS(`#destroy-form`)),
		chromedp.SendKeys(chromedp.CSS(`#destroy-form input[name="confirm"]`), "oldq")); err != nil {
		t.Fatalf("destroy page: %v", err)
	}
	screenshot(ctx, t, "destroy.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#destroy-form button`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#queues`))); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if flash := text(ctx, t, `p.flash[role="status"]`); flash != `Queue "oldq" destroyed, with the 1 message(s) it held.` {
		t.Errorf("after destroy: flash %q", flash)
	}
	if n := count(ctx, t, `tr[data-queue="oldq"]`); n != 0 || count(ctx, t, `tr[data-queue="emails"]`) != 1 {
		t.Errorf("after destroy the overview lists oldq %d time(s), or lost emails", n)
	}
	if _, err := b.Stats(bctx, "oldq"); !errors.Is(err, broker.ErrUnknownQueue) {
		t.Errorf("after destroy, Stats(oldq) = %v, want ErrUnknownQueue", err)
	}
	screenshot(ctx, t, "destroyed.png")
}
