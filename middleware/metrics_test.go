package middleware_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	mp, reader := newMetrics(t)
	mw := middleware.Metrics(middleware.WithMeterProvider(mp), nil)

	var inFlight series // read while a handler runs
	runs := []struct {
		queue   string
		attempt int
		handler func(ctx context.Context) error
	}{
		{queue: "emails", handler: func(context.Context) error {
			inFlight = collectMetrics(t, reader)[middleware.MetricInFlight]
			return nil
		}},
		{queue: "emails", handler: func(context.Context) error { return nil }},
		{queue: "emails", handler: func(context.Context) error { return errors.New("smtp down") }},
		{queue: "emails", attempt: 25, handler: func(context.Context) error { return errors.New("smtp down") }},
		{queue: "emails", handler: func(context.Context) error { return worker.SkipRetry(nil) }},
		{queue: "billing", handler: func(context.Context) error { return nil }},
	}
	for i, r := range runs {
		m := newMessage()
		m.Queue, m.Attempt, m.Facet, m.ID = r.queue, max(r.attempt, 1), "tenant-"+string(rune('a'+i)), "id-"+string(rune('a'+i))
		h := mw(worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error { return r.handler(ctx) }))
		_ = h.Handle(t.Context(), m)
	}

	const (
		emails  = "fairway.queue=emails"
		billing = "fairway.queue=billing"
	)
	outcome := func(o, q string) string { return "fairway.outcome=" + o + "," + q }
	want := map[string]series{
		middleware.MetricProcessed: {
			outcome("ack", emails): 2, outcome("retry", emails): 1, outcome("dead", emails): 2, outcome("ack", billing): 1,
		},
		middleware.MetricDuration: {
			outcome("ack", emails): 2, outcome("retry", emails): 1, outcome("dead", emails): 2, outcome("ack", billing): 1,
		},
		middleware.MetricFailed:       {emails: 3},
		middleware.MetricRetried:      {emails: 1},
		middleware.MetricDeadLettered: {emails: 2},
		middleware.MetricInFlight:     {emails: 0, billing: 0},
	}
	got := collectMetrics(t, reader)
	for name, w := range want {
		if !maps.Equal(got[name], w) {
			t.Errorf("%s = %v; want %v", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("metrics %v; want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	if w := (series{emails: 1}); !maps.Equal(inFlight, w) {
		t.Errorf("%s while handling = %v; want %v", middleware.MetricInFlight, inFlight, w)
	}
	for name, s := range got {
		for attrs := range s {
			for _, banned := range []string{string(middleware.FacetKey), string(middleware.AttemptKey), "tenant-", "id-", "user.signup"} {
				if strings.Contains(attrs, banned) {
					t.Errorf("%s has a high-cardinality attribute %q in %q", name, banned, attrs)
				}
			}
		}
	}
}

func TestMetricsRepanics(t *testing.T) {
	t.Parallel()
	mp, reader := newMetrics(t)
	h := middleware.Metrics(middleware.WithMeterProvider(mp))(
		worker.HandlerFunc(func(context.Context, *broker.Message) error { boom("boom"); return nil }))
	if v := mustPanic(t, func() { _ = h.Handle(t.Context(), newMessage()) }); v != "boom" {
		t.Fatalf("re-panicked with %v; want boom", v)
	}
	got := collectMetrics(t, reader)
	for name, w := range map[string]series{
		middleware.MetricFailed:   {"fairway.queue=emails": 1},
		middleware.MetricRetried:  {"fairway.queue=emails": 1},
		middleware.MetricInFlight: {"fairway.queue=emails": 0},
	} {
		if !maps.Equal(got[name], w) {
			t.Errorf("%s = %v; want %v", name, got[name], w)
		}
	}
}
