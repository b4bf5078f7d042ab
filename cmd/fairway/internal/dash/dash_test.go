package dash_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/dash"
	"github.com/fairwayhq/fairway/internal/brokerlink"
	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// fixture is a dashboard on a queue "q" with messages and a dead letter.
type fixture struct {
	b   *broker.Broker
	srv *httptest.Server
}

func newFixture(t *testing.T, o dash.Options) *fixture {
	t.Helper()
	b, err := broker.New(testutil.RealRedis(t), broker.Config{Namespace: testutil.Namespace(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.RegisterQueue(ctx, "q", "."); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"acme", "acme", "globex"} {
		if err := b.DeliverBytes(ctx, "t", f, []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeliverBytes(ctx, "t", "evil", []byte(`<script>alert(1)</script>`)); err != nil {
		t.Fatal(err)
	}
	// The evil facet's message is the last in rotation; kill it.
	ms, err := b.PullN(ctx, "q", 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Facet == "evil" {
			if err := b.Kill(ctx, m, "<img src=x onerror=alert(2)>"); err != nil {
				t.Fatal(err)
			}
		} else if err := b.Release(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := brokerlink.AddHistory(ctx, b, time.Now(), map[string]broker.HistoryCounts{"q": {Processed: 42, Failed: 7}}); err != nil {
		t.Fatal(err)
	}
	o.Broker = b
	d, err := dash.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return &fixture{b: b, srv: srv}
}

func (f *fixture) get(t *testing.T, path string, mod func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+path, nil)
	if mod != nil {
		mod(req)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// post sends a form, with the page's CSRF token unless csrf says otherwise.
func (f *fixture) post(t *testing.T, path string, form url.Values, mod func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if mod != nil {
		mod(req)
	}
	return do(t, req)
}

func (f *fixture) csrf(t *testing.T) string {
	t.Helper()
	_, body := f.get(t, "/q/q", nil)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the queue page:\n%s", body)
	}
	return m[1]
}

func TestPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	code, body := f.get(t, "/", nil)
	if code != 200 {
		t.Fatalf("GET / = %d\n%s", code, body)
	}
	for _, want := range []string{`href="/q/q"`, `<td class="n ready">3</td>`, `<td class="n dead"><a href="/q/q/dead">1</a></td>`, `id="processed">42<`, `id="failed">7<`, "<svg"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	code, body = f.get(t, "/q/q", nil)
	if code != 200 || !strings.Contains(body, "<code>acme</code>") || !strings.Contains(body, `value="priority"`) {
		t.Errorf("queue page = %d\n%s", code, body)
	}
	if strings.Contains(body, "Partitions:") {
		t.Errorf("the page of a queue in one partition shows partitions")
	}
	if err := f.b.SetPartitions(t.Context(), "q", 3); err != nil {
		t.Fatal(err)
	}
	if _, body = f.get(t, "/q/q", nil); !strings.Contains(body, "Partitions: 3.") || !strings.Contains(body, "Draining after a change of count: 1 partition(s).") {
		t.Errorf("queue page after SetPartitions(3) lacks the partitions:\n%s", body)
	}
	if code, _ := f.get(t, "/q/nope", nil); code != http.StatusNotFound {
		t.Errorf("unknown queue = %d, want 404", code)
	}
	if code, _ := f.get(t, "/assets/style.css", nil); code != 200 {
		t.Errorf("style.css = %d", code)
	}
	if code, _ := f.get(t, "/assets/pages.html", nil); code != http.StatusNotFound {
		t.Errorf("templates are served: %d", code)
	}
}

func TestBodiesAreEscaped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	code, body := f.get(t, "/q/q/dead", nil)
	if code != 200 {
		t.Fatalf("dead page = %d", code)
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Fatalf("dead page holds unescaped markup:\n%s", body)
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("dead page lacks escaped %q", want)
		}
	}
}

func TestActionsNeedCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	for name, form := range map[string]url.Values{
		"no token":    {"op": {"pause"}},
		"wrong token": {"op": {"pause"}, "csrf": {"00"}},
	} {
		if code, _ := f.post(t, "/q/q/action", form, nil); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	form := url.Values{"op": {"pause"}}
	token := f.csrf(t)
	form.Set("csrf", token)
	code, _ := f.post(t, "/q/q/action", form, func(r *http.Request) {
		r.Header.Set("Origin", "https://evil.example")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
	})
	if code != http.StatusForbidden {
		t.Errorf("cross-origin POST with the token: %d, want 403", code)
	}
	if st, _ := f.b.Stats(t.Context(), "q"); st.Paused {
		t.Fatal("a refused request paused the queue")
	}
	if code, _ := f.get(t, "/q/q/action?op=pause", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET action = %d, want 405", code)
	}
	code, _ = f.post(t, "/q/q/action", form, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") })
	if code != http.StatusSeeOther {
		t.Fatalf("POST with the token = %d, want 303", code)
	}
	if st, _ := f.b.Stats(t.Context(), "q"); !st.Paused {
		t.Error("the queue is not paused")
	}
}

func TestActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	token := f.csrf(t)
	act := func(vals ...string) {
		t.Helper()
		form := url.Values{"csrf": {token}}
		for i := 0; i < len(vals); i += 2 {
			form.Add(vals[i], vals[i+1])
		}
		if code, body := f.post(t, "/q/q/action", form, nil); code != http.StatusSeeOther {
			t.Fatalf("%v = %d\n%s", vals, code, body)
		}
	}
	ctx := t.Context()
	act("op", "priority", "facet", "acme", "priority", "4")
	act("op", "pause-facet", "facet", "globex")
	act("op", "limit", "limit", "3")
	fs, _ := f.b.Facet(ctx, "q", "acme")
	gs, _ := f.b.Facet(ctx, "q", "globex")
	st, _ := f.b.Stats(ctx, "q")
	if fs.Priority != 4 || !gs.Paused || st.InflightLimit != 3 {
		t.Errorf("acme %+v, globex %+v, stats %+v", fs, gs, st)
	}
	dead, _ := f.b.DeadLetters(ctx, "q", 0, 10)
	act("op", "requeue", "id", dead[0].ID)
	if st, _ := f.b.Stats(ctx, "q"); st.Dead != 0 || st.Ready != 4 {
		t.Errorf("after requeue: %+v", st)
	}
	form := url.Values{"csrf": {token}, "op": {"priority"}, "facet": {"acme"}, "priority": {"lots"}}
	if code, _ := f.post(t, "/q/q/action", form, nil); code != http.StatusBadRequest {
		t.Errorf("bad priority = %d, want 400", code)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, dash.Options{Token: "s3cret"})
		if code, _ := f.get(t, "/", nil); code != http.StatusUnauthorized {
			t.Errorf("no token = %d, want 401", code)
		}
		if code, _ := f.get(t, "/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }); code != http.StatusUnauthorized {
			t.Errorf("wrong token = %d, want 401", code)
		}
		if code, _ := f.get(t, "/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }); code != 200 {
			t.Errorf("bearer token = %d, want 200", code)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/q/q?token=s3cret", nil)
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		cookies := resp.Cookies()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/q/q" || len(cookies) != 1 || cookies[0].SameSite != http.SameSiteStrictMode || !cookies[0].HttpOnly {
			t.Fatalf("?token= = %d, Location %q, cookies %v", resp.StatusCode, resp.Header.Get("Location"), cookies)
		}
		if code, _ := f.get(t, "/", func(r *http.Request) { r.AddCookie(cookies[0]) }); code != 200 {
			t.Errorf("with the cookie = %d, want 200", code)
		}
	})
	t.Run("basic", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, dash.Options{User: "ops", Password: "pw"})
		if code, _ := f.get(t, "/", nil); code != http.StatusUnauthorized {
			t.Errorf("no credentials = %d, want 401", code)
		}
		if code, _ := f.get(t, "/", func(r *http.Request) { r.SetBasicAuth("ops", "nope") }); code != http.StatusUnauthorized {
			t.Errorf("wrong password = %d, want 401", code)
		}
		if code, _ := f.get(t, "/", func(r *http.Request) { r.SetBasicAuth("ops", "pw") }); code != 200 {
			t.Errorf("right credentials = %d, want 200", code)
		}
	})
	t.Run("no auth refuses foreign Host", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, dash.Options{})
		if code, _ := f.get(t, "/", func(r *http.Request) { r.Host = "evil.example:8080" }); code != http.StatusMisdirectedRequest {
			t.Errorf("foreign Host = %d, want 421", code)
		}
	})
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		auth bool
		ok   bool
	}{
		{"127.0.0.1:8080", false, true}, {"localhost:8080", false, true}, {"[::1]:8080", false, true},
		{"0.0.0.0:8080", false, false}, {":8080", false, false}, {"10.0.0.5:8080", false, false},
		{"0.0.0.0:8080", true, true}, {"nonsense", true, false},
	} {
		if err := dash.CheckAddr(tc.addr, tc.auth); (err == nil) != tc.ok {
			t.Errorf("CheckAddr(%q, %v) = %v, want ok %v", tc.addr, tc.auth, err, tc.ok)
		}
	}
}

// Every page warns of a Redis that may evict keys, naming its policy, and
// no page does on a noeviction Redis.
func TestEvictionBanner(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"allkeys-lru", "noeviction"} {
		srv := testutil.StartServerT(t, "--maxmemory-policy", policy)
		rdb := srv.Client()
		t.Cleanup(func() { _ = rdb.Close() })
		b, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.RegisterQueue(t.Context(), "q", "."); err != nil {
			t.Fatal(err)
		}
		d, err := dash.New(dash.Options{Broker: b})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(d.Handler())
		t.Cleanup(hs.Close)
		f := &fixture{b: b, srv: hs}
		for _, path := range []string{"/", "/q/q", "/q/q/dead", "/schedules"} {
			code, body := f.get(t, path, nil)
			warned := strings.Contains(body, `id="server-warning"`) && strings.Contains(body, policy)
			if code != http.StatusOK || warned != (policy != "noeviction") {
				t.Errorf("%s %s: %d, warned %v", policy, path, code, warned)
			}
		}
	}
}
