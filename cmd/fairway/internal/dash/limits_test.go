package dash_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/dash"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/scheduler"
)

func TestRateLimitsAndPausedState(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	ctx := t.Context()
	act := f.queueActions(t)
	act(http.StatusSeeOther, "op", "ratelimit", "rate", "1/1m")
	act(http.StatusSeeOther, "op", "ratelimit", "facet", "globex", "rate", "5/1s,2")
	act(http.StatusBadRequest, "op", "ratelimit", "rate", "fast")
	act(http.StatusBadRequest, "op", "ratelimit", "rate", "default")
	act(http.StatusBadRequest, "op", "ratelimit", "rate", "5/1s,9")
	if st, _ := f.b.Stats(ctx, "q"); st.RateLimit != (broker.RateLimit{N: 1, Per: time.Minute}) {
		t.Fatalf("default = %+v", st.RateLimit)
	}
	// acme has 2 ready at 1 a minute: after one pull it is held back.
	m, err := f.b.Pull(ctx, "q")
	if err != nil || m == nil {
		t.Fatalf("Pull: %v, %v", m, err)
	}
	if err := f.b.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	_, body := f.get(t, "/q/q", nil)
	for _, want := range []string{
		`id="rate-limit">1/1m<`, `id="rate-limited">1<`,
		`name="rate" size="10" value="1/1m"`, `value="5/1s,2"`,
		"own", "queue default", `class="badge paused" title="until `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="paused-note"`) {
		t.Error("an active queue is shown as paused")
	}
	_, body = f.get(t, "/", nil)
	if !regexp.MustCompile(`<td class="rate">1/1m <small>\(1 held back\)</small></td>`).MatchString(body) {
		t.Errorf("overview lacks the rate limit:\n%s", body)
	}
	if strings.Contains(body, `class="paused"`) {
		t.Error("an active queue's row is marked paused")
	}

	act(http.StatusSeeOther, "op", "ratelimit", "facet", "globex", "rate", "default")
	act(http.StatusSeeOther, "op", "pause")
	if own, _ := f.b.FacetRateLimits(ctx, "q"); len(own) != 0 {
		t.Errorf("own limits after default: %v", own)
	}
	_, body = f.get(t, "/q/q", nil)
	mustHave(t, "paused queue page", body, `id="paused-note"`, `value="resume"`)
	_, body = f.get(t, "/", nil)
	mustHave(t, "overview", body, `<tr data-queue="q" class="paused">`, `<span class="badge paused">paused</span>`, `href="/schedules"`)
}

// The queue page shows and sets the queue's default budget; a bad value
// is refused and changes nothing.
func TestMaxAttemptsOnQueuePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	token := f.csrf(t)
	act := func(want int, attempts string) {
		t.Helper()
		form := url.Values{"csrf": {token}, "op": {"attempts"}, "attempts": {attempts}}
		if code, body := f.post(t, "/q/q/action", form, nil); code != want {
			t.Fatalf("attempts %q = %d, want %d\n%s", attempts, code, want, body)
		}
	}
	_, body := f.get(t, "/q/q", nil)
	mustHave(t, "queue page", body, `id="max-attempts">the producer's default<`, `name="attempts"`, `<td class="n">1/25</td>`)
	act(http.StatusSeeOther, "4")
	for _, bad := range []string{"many", "-1", "10001"} {
		act(http.StatusBadRequest, bad)
	}
	if st, _ := f.b.Stats(t.Context(), "q"); st.MaxAttempts != 4 {
		t.Fatalf("MaxAttempts = %d, want 4", st.MaxAttempts)
	}
	_, body = f.get(t, "/q/q", nil)
	mustHave(t, "queue page", body, `id="max-attempts">4<`, `max="10000" value="4"`)
	act(http.StatusSeeOther, "0")
	if st, _ := f.b.Stats(t.Context(), "q"); st.MaxAttempts != 0 {
		t.Fatalf("MaxAttempts after 0 = %d, want 0", st.MaxAttempts)
	}
}

// The queue page shows the queue's default TTL, its expiry policy and how
// many messages expired.
func TestMessageTTLOnQueuePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	_, body := f.get(t, "/q/q", nil)
	mustHave(t, "queue page", body, `id="message-ttl">none<`, `id="expiry-policy">become dead letters<`, `id="expired">0<`)
	if err := f.b.SetMessageTTL(t.Context(), "q", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := f.b.SetExpiryPolicy(t.Context(), "q", broker.ExpireDrop); err != nil {
		t.Fatal(err)
	}
	_, body = f.get(t, "/q/q", nil)
	mustHave(t, "queue page", body, `id="message-ttl">a message not started within 1m30s expires<`, `id="expiry-policy">are dropped<`)
}

func mustHave(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, body)
		}
	}
}

func TestSchedulesPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	code, body := f.get(t, "/schedules", nil)
	if code != 200 || !strings.Contains(body, "No schedules are recorded") {
		t.Fatalf("GET /schedules with none = %d\n%s", code, body)
	}
	s, err := scheduler.New(f.b, scheduler.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sch := range []scheduler.Schedule{
		{Name: "nightly", Spec: scheduler.MustCron("0 2 * * *"), Topic: "report.<b>", Facet: "ops"},
		{Name: "tick", Spec: scheduler.Every(time.Hour), Build: func(context.Context, time.Time) ([]broker.Delivery, error) { return nil, nil }},
	} {
		if err := s.Add(sch); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	testutil.Eventually(t, 5*time.Second, func() bool {
		all, err := scheduler.List(t.Context(), f.b)
		return err == nil && len(all) == 2
	}, "the scheduler records its schedules")
	cancel()
	<-done

	_, body = f.get(t, "/schedules", nil)
	mustHave(t, "schedules page", body, `data-schedule="nightly"`, `<code>0 2 * * *</code>`, "<td>UTC</td>",
		`<code>report.&lt;b&gt;</code>`, "<code>ops</code>", "built in code", "<td>last</td>", `<td class="last">never</td>`, `name="csrf"`)
	if !regexp.MustCompile(`<td class="next">\d{4}-\d\d-\d\d 02:00:00 UTC</td>`).MatchString(body) {
		t.Errorf("schedules page lacks nightly's next run:\n%s", body)
	}

	form := url.Values{"name": {"tick"}}
	if code, _ := f.post(t, "/schedules/forget", form, nil); code != http.StatusForbidden {
		t.Errorf("forget without the CSRF token = %d, want 403", code)
	}
	form.Set("csrf", f.csrf(t))
	if code, _ := f.post(t, "/schedules/forget", form, nil); code != http.StatusSeeOther {
		t.Errorf("forget = %d, want 303", code)
	}
	if all, _ := scheduler.List(t.Context(), f.b); len(all) != 1 || all[0].Name != "nightly" {
		t.Errorf("after forget: %+v", all)
	}
	if code, _ := f.post(t, "/schedules/forget", form, nil); code != http.StatusNotFound {
		t.Errorf("forget again = %d, want 404", code)
	}
}

// queueActions returns a function that posts one action to queue q's page,
// with the form's name and value pairs, and fails t unless it answers want.
func (f *fixture) queueActions(t *testing.T) func(want int, vals ...string) {
	token := f.csrf(t)
	return func(want int, vals ...string) {
		t.Helper()
		form := url.Values{"csrf": {token}}
		for i := 0; i < len(vals); i += 2 {
			form.Add(vals[i], vals[i+1])
		}
		if code, body := f.post(t, "/q/q/action", form, nil); code != want {
			t.Fatalf("%v = %d, want %d\n%s", vals, code, want, body)
		}
	}
}

// The limit layers beside the per-facet rate limits are shown on the queue
// page and set from it; bad values are refused and change nothing.
func TestLimitLayersOnQueuePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	ctx := t.Context()
	act := f.queueActions(t)
	act(http.StatusSeeOther, "op", "queue-ratelimit", "rate", "100/1s,10")
	act(http.StatusSeeOther, "op", "concurrency", "concurrency", "7")
	act(http.StatusSeeOther, "op", "facet-limit", "facet", "acme", "limit", "3")
	act(http.StatusSeeOther, "op", "facet-limit", "facet", "globex", "limit", "off")
	act(http.StatusBadRequest, "op", "queue-ratelimit", "rate", "default")
	act(http.StatusBadRequest, "op", "concurrency", "concurrency", "-1")
	act(http.StatusBadRequest, "op", "facet-limit", "facet", "acme", "limit", "many")
	st, err := f.b.Stats(ctx, "q")
	if err != nil || st.QueueRateLimit != (broker.RateLimit{N: 100, Per: time.Second, Burst: 10}) || st.GlobalConcurrency != 7 || st.OwnInflightLimits != 2 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	_, body := f.get(t, "/q/q", nil)
	for _, want := range []string{
		`id="queue-rate-limit">100/1s,10<`, `id="global-concurrency">0/7<`, `id="own-limits">2<`,
		`name="limit" size="5" value="3"`, `Strict order: off`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	act(http.StatusSeeOther, "op", "order-strict")
	if st, _ := f.b.Stats(ctx, "q"); !st.StrictOrder {
		t.Fatal("strict order not set")
	}
	_, body = f.get(t, "/q/q", nil)
	for _, want := range []string{`Strict order: on`, `id="inflight-limit">1 (strict order`} {
		if !strings.Contains(body, want) {
			t.Errorf("queue page under strict order lacks %q", want)
		}
	}
	act(http.StatusSeeOther, "op", "facet-limit", "facet", "acme", "limit", "default")
	act(http.StatusSeeOther, "op", "order-off")
	if own, err := f.b.FacetInflightLimits(ctx, "q"); err != nil || len(own) != 1 {
		t.Fatalf("FacetInflightLimits = %v, %v; want globex's only", own, err)
	}
}

// Admission control is shown on the queue page and set from it; bad values
// are refused and change nothing.
func TestBacklogCapsOnQueuePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	ctx := t.Context()
	act := f.queueActions(t)
	act(http.StatusSeeOther, "op", "backlog-cap", "cap", "500")
	act(http.StatusSeeOther, "op", "queue-cap", "cap", "100000")
	act(http.StatusSeeOther, "op", "facet-backlog-cap", "facet", "acme", "cap", "2000")
	act(http.StatusSeeOther, "op", "facet-backlog-cap", "facet", "globex", "cap", "off")
	act(http.StatusSeeOther, "op", "backlog-drop")
	act(http.StatusBadRequest, "op", "backlog-cap", "cap", "-1")
	act(http.StatusBadRequest, "op", "queue-cap", "cap", "lots")
	act(http.StatusBadRequest, "op", "facet-backlog-cap", "facet", "acme", "cap", "many")
	st, err := f.b.Stats(ctx, "q")
	if err != nil || st.BacklogLimit != 500 || st.QueueBacklogLimit != 100000 || st.OwnBacklogLimits != 2 || st.BacklogPolicy != broker.BacklogDropOldest {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	_, body := f.get(t, "/q/q", nil)
	for _, want := range []string{
		`id="backlog-cap">500 ready messages<`, `id="queue-cap">at most 100000 messages<`, `id="own-backlog-caps">2<`,
		`id="backlog-policy">drops the facet`, `name="cap" size="6" value="2000"`, `refuse instead`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	act(http.StatusSeeOther, "op", "backlog-refuse")
	act(http.StatusSeeOther, "op", "facet-backlog-cap", "facet", "acme", "cap", "default")
	if own, err := f.b.FacetBacklogLimits(ctx, "q"); err != nil || len(own) != 1 || own["globex"] != 0 {
		t.Fatalf("FacetBacklogLimits = %v, %v; want globex's only", own, err)
	}
	if st, _ := f.b.Stats(ctx, "q"); st.BacklogPolicy != broker.BacklogRefuse {
		t.Fatal("policy not set back to refuse")
	}
}
