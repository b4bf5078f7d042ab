package dash_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/dash"
)

// unrouted makes queue oldq hold one message, then unregisters it.
func unrouted(t *testing.T, b *broker.Broker) {
	t.Helper()
	ctx := t.Context()
	if err := b.RegisterQueue(ctx, "oldq", "^old$"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverBytes(ctx, "old", "f", []byte(`{"old":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.UnregisterQueue(ctx, "oldq"); err != nil {
		t.Fatal(err)
	}
}

// An unregistered queue holding a message is on the overview as unrouted;
// destroying it takes its typed name and the CSRF token, and a refusal
// changes nothing.
func TestUnroutedAndDestroy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, dash.Options{})
	unrouted(t, f.b)
	_, body := f.get(t, "/", nil)
	_, row, found := strings.Cut(body, `data-queue="oldq"`)
	row, _, _ = strings.Cut(row, "</tr>")
	if !found {
		t.Fatalf("overview lacks oldq:\n%s", body)
	}
	for _, want := range []string{`<td>–</td>`, `<td class="n ready">1</td>`, ">unrouted<"} {
		if !strings.Contains(row, want) {
			t.Errorf("overview row of oldq lacks %q:\n%s", want, row)
		}
	}
	if !strings.Contains(body, `id="unrouted-note"`) {
		t.Errorf("overview does not say what unrouted means")
	}
	if _, body = f.get(t, "/q/oldq", nil); !strings.Contains(body, `href="/q/oldq/destroy"`) {
		t.Errorf("queue page lacks the destroy link")
	}
	code, body := f.get(t, "/q/oldq/destroy", nil)
	if code != 200 || !strings.Contains(body, "<b>1</b> message(s)") || !strings.Contains(body, `name="confirm"`) || !strings.Contains(body, `data-refresh="0"`) || !strings.Contains(body, "does not refresh") {
		t.Errorf("destroy page = %d:\n%s", code, body)
	}
	if code, _ := f.get(t, "/q/nope/destroy", nil); code != http.StatusNotFound {
		t.Errorf("destroy page of an unknown queue = %d, want 404", code)
	}
	token := f.csrf(t)
	for name, form := range map[string]url.Values{
		"wrong name": {"op": {"destroy"}, "csrf": {token}, "confirm": {"old"}},
		"no name":    {"op": {"destroy"}, "csrf": {token}},
		"no token":   {"op": {"destroy"}, "confirm": {"oldq"}},
	} {
		code, body := f.post(t, "/q/oldq/action", form, nil)
		if code != http.StatusBadRequest && code != http.StatusForbidden {
			t.Errorf("%s: %d, want 400 or 403\n%s", name, code, body)
		}
		if st, err := f.b.Stats(t.Context(), "oldq"); err != nil || st.Ready != 1 {
			t.Fatalf("%s changed oldq: %+v, %v", name, st, err)
		}
	}
	if code, body := f.post(t, "/q/oldq/action", url.Values{"op": {"destroy"}, "csrf": {token}, "confirm": {"old"}}, nil); code != http.StatusBadRequest || !strings.Contains(body, "nothing was destroyed") {
		t.Errorf("wrong name: %d\n%s", code, body)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+"/q/oldq/action",
		strings.NewReader(url.Values{"op": {"destroy"}, "csrf": {token}, "confirm": {"oldq"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/?msg=") {
		t.Errorf("destroy = %d to %q, want 303 to the overview", resp.StatusCode, loc)
	}
	if _, err := f.b.Stats(t.Context(), "oldq"); !errors.Is(err, broker.ErrUnknownQueue) {
		t.Errorf("after destroy, Stats(oldq) = %v, want ErrUnknownQueue", err)
	}
	if _, body = f.get(t, "/", nil); strings.Contains(body, "oldq") || !strings.Contains(body, `href="/q/q"`) || strings.Contains(body, `id="unrouted-note"`) {
		t.Errorf("overview after destroy:\n%s", body)
	}
}
