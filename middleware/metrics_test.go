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
	obs := middleware.Metrics(middleware.WithMeterProvider(mp), nil)

	var inFlight series // read while a handler runs
	runs := []struct {
		queue   string
		report  worker.Report // what the worker did
		handler func(ctx context.Context) error
	}{
		{queue: "emails", report: outcome(worker.OutcomeAck), handler: func(context.Context) error {
			inFlight = collectMetrics(t, reader)[middleware.MetricInFlight]
			return nil
		}},
		{queue: "emails", report: outcome(worker.OutcomeAck), handler: func(context.Context) error { return nil }},
		{queue: "emails", report: outcome(worker.OutcomeRetry), handler: func(context.Context) error { return errors.New("smtp down") }},
		{queue: "emails", report: outcome(worker.OutcomeDead), handler: func(context.Context) error { return errors.New("smtp down") }},
		{queue: "emails", report: outcome(worker.OutcomeDead), handler: func(context.Context) error { return worker.SkipRetry(nil) }},
		{queue: "emails", report: outcome(worker.OutcomeRetry), handler: func(context.Context) error { boom("boom"); return nil }},
		{queue: "emails", report: worker.Report{Outcome: worker.OutcomeLost, SettleErr: broker.ErrLeaseLost},
			handler: func(context.Context) error { return nil }},
		{queue: "billing", report: outcome(worker.OutcomeAck), handler: func(context.Context) error { return nil }},
	}
	for i, r := range runs {
		m := newMessage()
		m.Queue, m.Facet, m.ID = r.queue, "tenant-"+string(rune('a'+i)), "id-"+string(rune('a'+i))
		h := worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error { return r.handler(ctx) })
		_ = observe(t.Context(), m, h, r.report, obs)
	}

	const (
		emails  = "fairway.queue=emails"
		billing = "fairway.queue=billing"
	)
	withOutcome := func(o, q string) string { return "fairway.outcome=" + o + "," + q }
	want := map[string]series{
		middleware.MetricProcessed: {
			withOutcome("ack", emails): 2, withOutcome("retry", emails): 2, withOutcome("dead", emails): 2, withOutcome("lost", emails): 1, withOutcome("ack", billing): 1,
		},
		middleware.MetricDuration: {
			withOutcome("ack", emails): 2, withOutcome("retry", emails): 2, withOutcome("dead", emails): 2, withOutcome("lost", emails): 1, withOutcome("ack", billing): 1,
		},
		middleware.MetricFailed:       {emails: 4},
		middleware.MetricRetried:      {emails: 2},
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
