package dash_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/dash"
	"github.com/fairwayhq/fairway/internal/brokerlink"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// findChromium returns the browser to drive: $FAIRWAY_CHROMIUM, else the
// first of Debian's chromium and its usual names on PATH. Without one the
// test is skipped, or fails when FAIRWAY_REQUIRE_BROWSER=1 (as in CI).
func findChromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	if v := os.Getenv("FAIRWAY_CHROMIUM"); v != "" {
		names = []string{v}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("FAIRWAY_REQUIRE_BROWSER") == "1" {
		t.Fatalf("no Chromium found (tried %v); install it with apt-get install -y chromium", names)
	}
	t.Skipf("no Chromium found (tried %v); set FAIRWAY_REQUIRE_BROWSER=1 to fail instead", names)
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// tab's context. Everything is closed when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	// Any alert() means a body got out of its escaping.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Errorf("the page opened a %s dialog: %q", ev.Type, ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return ctx
}

func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("FAIRWAY_SCREENSHOT_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// text reads the text of the element sel selects.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// count counts the elements sel selects.
func count(ctx context.Context, t *testing.T, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// seed fills two queues: emails with backlogs on three facets and three
// dead letters (one with a hostile body), reports with one message; and a
// history of processed and failed counts.
func seed(t *testing.T, b *broker.Broker) {
	t.Helper()
	ctx := t.Context()
	for q, p := range map[string]string{"emails": `^email\.`, "reports": `^report\.`} {
		if err := b.RegisterQueue(ctx, q, p); err != nil {
			t.Fatal(err)
		}
	}
	var ds []broker.Delivery
	for i := range 12 {
		ds = append(ds, broker.Delivery{Topic: "email.welcome", Facet: []string{"acme", "acme", "acme", "globex", "initech", "acme"}[i%6], Body: []byte(`{"to":"user` + strconv.Itoa(i) + `@example.test"}`)})
	}
	ds = append(ds, broker.Delivery{Topic: "report.daily", Facet: "acme", Body: []byte(`{}`)})
	if err := b.DeliverBatch(ctx, ds); err != nil {
		t.Fatal(err)
	}
	// Three messages of a "bounce" facet become dead letters.
	for i, body := range []string{`<script>alert("xss")</script>`, `{"to":"a@b"}`, `{"to":"c@d"}`} {
		if err := b.DeliverBytes(ctx, "email.bounce", "bounce"+strconv.Itoa(i), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := b.SetFacetPriority(ctx, "emails", "acme", 0); err != nil { // keep acme out of the pulls below
			t.Fatal(err)
		}
	}
	ms, err := b.PullN(ctx, "emails", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if strings.HasPrefix(m.Facet, "bounce") {
			if err := b.Kill(ctx, m, "550 mailbox unavailable"); err != nil {
				t.Fatal(err)
			}
		} else if err := b.Release(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetFacetPriority(ctx, "emails", "acme", 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 60 {
		c := broker.HistoryCounts{Processed: int64(20 + i%17*3), Failed: int64(i % 7 / 5)}
		if err := brokerlink.AddHistory(ctx, b, now.Add(-time.Duration(i)*time.Minute), map[string]broker.HistoryCounts{"emails": c}); err != nil {
			t.Fatal(err)
		}
	}
}

// serveDash serves a dashboard of b for the browser test t, and gives the
// browser context ctx a deadline for the test's steps.
func serveDash(ctx context.Context, t *testing.T, b *broker.Broker) (*httptest.Server, context.Context) {
	t.Helper()
	d, err := dash.New(dash.Options{Broker: b, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return srv, ctx
}

func TestBrowserEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	b, err := broker.New(testutil.RealRedis(t), broker.Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, b)
	want, err := b.Stats(t.Context(), "emails")
	if err != nil {
		t.Fatal(err)
	}
	if want.Dead != 3 || want.Ready != 12 {
		t.Fatalf("seeded %+v, want 12 ready and 3 dead", want)
	}
	srv, ctx := serveDash(ctx, t, b)

	// The overview shows the numbers Redis holds.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#queues`))); err != nil {
		t.Fatalf("overview: %v", err)
	}
	ready := text(ctx, t, `tr[data-queue="emails"] td.ready`)
	dead := text(ctx, t, `tr[data-queue="emails"] td.dead`)
	facets := text(ctx, t, `tr[data-queue="emails"] td.facets`)
	processed := text(ctx, t, `#processed`)
	var wantProcessed int64
	h, _ := b.History(t.Context(), "emails", time.Now(), 60)
	for _, p := range h {
		wantProcessed += p.Processed
	}
	if ready != "12" || dead != "3" || facets != "3" || processed != strconv.FormatInt(wantProcessed, 10) {
		t.Errorf("overview shows ready %q, dead %q, facets %q, processed %q; want 12, 3, 3, %d", ready, dead, facets, processed, wantProcessed)
	}
	screenshot(ctx, t, "overview.png")

	// The queue page charts the facets.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-queue="emails"] td a`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#facets`))); err != nil {
		t.Fatalf("queue page: %v", err)
	}
	if bars := count(ctx, t, `figure.chart svg rect.ok`); bars < 3 {
		t.Errorf("queue page draws %d bars, want the throughput chart and 3 facets", bars)
	}
	screenshot(ctx, t, "queue.png")

	// Set the queue's default rate limit from its form.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#rate-form input[name="rate"]`), "10/1s,3"),
		chromedp.Click(chromedp.CSS(`#rate-form button`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`.flash`))); err != nil {
		t.Fatalf("rate limit: %v", err)
	}
	if shown := text(ctx, t, `#rate-limit`); shown != "10/1s,3" { // as typed
		t.Errorf("rate limit shown as %q", shown)
	}
	if st, _ := b.Stats(t.Context(), "emails"); st.RateLimit != (broker.RateLimit{N: 10, Per: time.Second, Burst: 3}) {
		t.Errorf("Redis after the form: %+v", st.RateLimit)
	}
	screenshot(ctx, t, "ratelimit.png")

	// The dead letters show the hostile body as text; requeue the first.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#dead-link`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#dead`))); err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	rows := count(ctx, t, `#dead tbody tr`)
	firstBody := text(ctx, t, `#dead tbody tr:first-child td:nth-child(6) pre`)
	if rows != 3 || firstBody != `<script>alert("xss")</script>` {
		t.Errorf("dead page: %d rows, first body %q", rows, firstBody)
	}
	screenshot(ctx, t, "dead.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#dead tbody tr:first-child button[value="requeue"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`.flash`))); err != nil {
		t.Fatalf("requeue: %v", err)
	}
	if flash, rows := text(ctx, t, `.flash`), count(ctx, t, `#dead tbody tr`); flash != "1 dead letter(s) requeued." || rows != 2 {
		t.Errorf("after requeue: flash %q, %d rows", flash, rows)
	}
	got, err := b.Stats(t.Context(), "emails")
	if err != nil {
		t.Fatal(err)
	}
	if got.Dead != 2 || got.Ready != 13 {
		t.Errorf("Redis after the click: %+v, want 2 dead and 13 ready", got)
	}
	screenshot(ctx, t, "requeued.png")

	// The header links to the schedules.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav.top a[href="/schedules"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`h1`))); err != nil {
		t.Fatalf("schedules: %v", err)
	}
	if h := text(ctx, t, `h1`); h != "Schedules" {
		t.Errorf("schedules page heading %q", h)
	}
	screenshot(ctx, t, "schedules.png")
}

// Pages reload themselves: a delivery shows up without navigating.
func TestBrowserAutoRefresh(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	b, err := broker.New(testutil.RealRedis(t), broker.Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(t.Context(), "q", "."); err != nil {
		t.Fatal(err)
	}
	d, err := dash.New(dash.Options{Broker: b, Refresh: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	ready := text(ctx, t, `tr[data-queue="q"] td.ready`)
	if ready != "0" {
		t.Fatalf("ready = %q, want 0", ready)
	}
	if err := b.DeliverBytes(t.Context(), "t", "f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The page reloads itself, which interrupts any evaluation that spans
	// it: ask again and again.
	testutil.Eventually(t, 10*time.Second, func() bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('tr[data-queue="q"] td.ready')?.textContent ?? ""`))
		return err == nil && v == "1"
	}, "the overview refreshes itself to show 1 ready")
}
