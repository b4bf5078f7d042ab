package cli_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/scheduler"
)

func TestRateLimitCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.run(0, "register", "q", ".")
	for _, f := range []string{"a", "a", "a", "b", "b", "c"} {
		e.run(0, "deliver", `{"facet":"`+f+`"}`)
	}
	r := e.run(0, "ratelimit", "q", "2/1m")
	mustContain(t, r.stdout, `default rate limit per facet is now 2/1m`)
	e.run(0, "ratelimit", "q", "b", "5/s,3")
	e.run(0, "ratelimit", "q", "c", "off")
	if st := e.stats("q"); st.RateLimit != (broker.RateLimit{N: 2, Per: time.Minute}) {
		t.Errorf("default = %+v", st.RateLimit)
	}
	own, err := e.b.FacetRateLimits(ctx, "q")
	if err != nil || own["b"] != (broker.RateLimit{N: 5, Per: time.Second, Burst: 3}) || !own["c"].IsZero() || len(own) != 2 {
		t.Errorf("own limits = %v, %v", own, err)
	}

	r = e.run(0, "ratelimit", "q")
	for _, re := range []string{`(?m)^\(default\)\s+2/1m$`, `(?m)^b\s+5/1s,3$`, `(?m)^c\s+off$`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("ratelimit q lacks %s:\n%s", re, r.stdout)
		}
	}
	r = e.run(0, "ratelimit", "q", "--json")
	var shown struct {
		Default struct {
			N     int   `json:"n"`
			PerMS int64 `json:"per_ms"`
		} `json:"default"`
		Facets []struct {
			Facet     string `json:"facet"`
			RateLimit struct {
				Text string `json:"text"`
			} `json:"rate_limit"`
		} `json:"facets"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.Default.N != 2 || shown.Default.PerMS != 60000 ||
		len(shown.Facets) != 2 || shown.Facets[0].Facet != "b" || shown.Facets[0].RateLimit.Text != "5/1s,3" {
		t.Errorf("ratelimit q --json = %s (%v)", r.stdout, err)
	}

	// a's budget at 2 a minute is two pulls; the third holds it back.
	ms, err := e.b.PullN(ctx, "q", 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := e.b.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	r = e.run(0, "stats", "q")
	for _, re := range []string{`(?m)^rate-limit\s+2/1m$`, `(?m)^rate-limited\s+1$`, `(?m)^state\s+active$`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("stats lacks %s:\n%s", re, r.stdout)
		}
	}
	r = e.run(0, "stats", "q", "--json")
	var st struct {
		RateLimited int64                 `json:"rate_limited"`
		Rate        struct{ Text string } `json:"rate_limit"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.RateLimited != 1 || st.Rate.Text != "2/1m" {
		t.Errorf("stats --json = %s (%v)", r.stdout, err)
	}
	r = e.run(0, "facets", "q")
	if !regexp.MustCompile(`(?m)^a\s+2\s+0\s+1\s+active\s+2/1m\s+\d\d:\d\d:\d\d\.\d{3} \(in [0-9.]+m?s\)\s+none\s+none$`).MatchString(r.stdout) {
		t.Errorf("facets lacks a limited a:\n%s", r.stdout)
	}
	r = e.run(0, "facets", "q", "--json")
	var fs []struct {
		Facet        string                `json:"facet"`
		OwnRateLimit bool                  `json:"own_rate_limit"`
		Rate         struct{ Text string } `json:"rate_limit"`
		Until        *time.Time            `json:"rate_limited_until"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil || len(fs) != 1 || fs[0].Facet != "a" || fs[0].Until == nil || fs[0].Rate.Text != "2/1m" || fs[0].OwnRateLimit {
		t.Errorf("facets --json = %s (%v)", r.stdout, err)
	}

	e.run(0, "ratelimit", "q", "b", "default")
	e.run(0, "ratelimit", "q", "off", "--json")
	own, _ = e.b.FacetRateLimits(ctx, "q")
	if st := e.stats("q"); !st.RateLimit.IsZero() || len(own) != 1 {
		t.Errorf("after off and default: %+v, own %v", st.RateLimit, own)
	}

	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{2, []string{"ratelimit", "q", "ten/1s"}, "N/PERIOD"},
		{2, []string{"ratelimit", "q", "10"}, "no /"},
		{2, []string{"ratelimit", "q", "10/fortnight"}, "Go duration"},
		{2, []string{"ratelimit", "q", "10/1us"}, "whole milliseconds"},
		{2, []string{"ratelimit", "q", "10/1s,x"}, "BURST"},
		{2, []string{"ratelimit", "q", "10/1s,11"}, "burst 11 is outside"},
		{2, []string{"ratelimit", "q", "10/9000h"}, "outside"},
		{2, []string{"ratelimit", "q", "default"}, "only applies to a facet"},
		{2, []string{"ratelimit", "q", "", "1/s"}, "empty facet"},
		{2, []string{"ratelimit", "q", "a", "1/s", "x"}, "want QUEUE"},
		{3, []string{"ratelimit", "nope", "1/s"}, "unknown queue"},
		{3, []string{"ratelimit", "nope", "f", "default"}, "unknown queue"},
		{3, []string{"ratelimit", "nope"}, "unknown queue"},
	} {
		r, _, _ := e.runCtx(ctx, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestPausedState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "q", ".")
	e.run(0, "deliver", `{"facet":"a"}`)
	e.run(0, "pause", "q")
	e.run(0, "pause", "q", "a")
	r := e.run(0, "stats", "q")
	if !regexp.MustCompile(`(?m)^state\s+paused$`).MatchString(r.stdout) {
		t.Errorf("stats of a paused queue:\n%s", r.stdout)
	}
	r = e.run(0, "queues")
	if !regexp.MustCompile(`(?m)^q\s.*\spaused$`).MatchString(r.stdout) {
		t.Errorf("queues:\n%s", r.stdout)
	}
	r = e.run(0, "facets", "q")
	if !regexp.MustCompile(`(?m)^a\s+1\s+0\s+1\s+paused\s`).MatchString(r.stdout) {
		t.Errorf("facets:\n%s", r.stdout)
	}
}

func TestSchedulesCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.run(0, "schedules")
	mustContain(t, r.stdout, "no schedules recorded")
	r = e.run(0, "schedules", "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("schedules --json with none = %q", r.stdout)
	}

	s, err := scheduler.New(e.b, scheduler.Config{})
	if err != nil {
		t.Fatal(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	for _, sch := range []scheduler.Schedule{
		{Name: "nightly", Spec: scheduler.MustCron("0 2 * * *"), Location: paris, Topic: "report.nightly", Facet: "ops", CatchUp: scheduler.CatchUpNone},
		{Name: "tick", Spec: scheduler.Every(time.Hour), Topic: "tick"},
	} {
		if err := s.Add(sch); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	testutil.Eventually(t, 5*time.Second, func() bool {
		all, err := scheduler.List(t.Context(), e.b)
		return err == nil && len(all) == 2
	}, "the scheduler records its schedules")
	cancel()
	<-done

	r = e.run(0, "schedules")
	if !regexp.MustCompile(`(?m)^nightly\s+"0 2 \* \* \*"\s+Europe/Paris\s+report\.nightly\s+ops\s+none\s+\S+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(r.stdout) {
		t.Errorf("schedules lacks nightly:\n%s", r.stdout)
	}
	mustContain(t, r.stdout, "NEXT-RUN", "tick", "UTC")
	r = e.run(0, "schedules", "--json")
	var rows []struct {
		Name, Spec, Location, Topic, Facet string
		CatchUp                            string     `json:"catch_up"`
		NextRun                            *time.Time `json:"next_run"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 || rows[0].Name != "nightly" ||
		rows[0].Location != "Europe/Paris" || rows[0].CatchUp != "none" || rows[0].NextRun == nil || rows[0].NextRun.In(paris).Hour() != 2 {
		t.Errorf("schedules --json = %s (%v)", r.stdout, err)
	}

	e.run(0, "schedules", "forget", "tick")
	if all, _ := scheduler.List(t.Context(), e.b); len(all) != 1 || all[0].Name != "nightly" {
		t.Errorf("after forget: %+v", all)
	}
	e.run(3, "schedules", "forget", "tick")
	e.run(2, "schedules", "forget")
	e.run(2, "schedules", "drop", "x")
}
