package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
)

func TestDefaultPanicReachesEveryObserver(t *testing.T) {
	t.Parallel()
	tp, rec := newTracing(t)
	mp, reader := newMetrics(t)
	l, logs := newLogger(slog.LevelInfo)
	s := middleware.Default(middleware.DefaultConfig{
		Logger:  l,
		Timeout: time.Minute,
		Retry:   fastRetry,
		Tracing: []middleware.TracingOption{middleware.WithTracerProvider(tp), middleware.WithPropagator(propagation.TraceContext{})},
		Metrics: []middleware.MetricsOption{middleware.WithMeterProvider(mp)},
	})
	var calls atomic.Int32
	h := chain(worker.HandlerFunc(func(context.Context, *broker.Message) error {
		calls.Add(1)
		boom("boom")
		return nil
	}), s.Middleware...)

	err := observe(t.Context(), newMessage(), h, outcome(worker.OutcomeRetry), s.Observers...)
	var pe *worker.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("err = %v; want a *worker.PanicError of boom", err)
	}
	// Recovered once, where it happened: the stack shows the handler.
	if !strings.Contains(string(pe.Stack), boomFrame) {
		t.Errorf("PanicError's stack does not show the handler:\n%s", pe.Stack)
	}
	if calls.Load() != 1 {
		t.Errorf("handler called %d times; a panic must not be retried in-process", calls.Load())
	}
	span := onlySpan(t, rec)
	if st := span.Status(); st.Code != codes.Error || !strings.Contains(st.Description, "boom") {
		t.Errorf("span status = %v %q; want Error with the panic value", st.Code, st.Description)
	}
	if got := collectMetrics(t, reader)[middleware.MetricFailed]; !maps.Equal(got, series{"fairway.queue=emails": 1}) {
		t.Errorf("%s = %v; want 1 for emails", middleware.MetricFailed, got)
	}
	line := logs.onlyLine(t)
	stack, _ := line["stack"].(string)
	if line["level"] != "ERROR" || !strings.Contains(stack, boomFrame) {
		t.Errorf("log line = %v; want ERROR with the panic's stack", line)
	}
	// Logging runs inside Tracing's span.
	if line["trace_id"] != span.SpanContext().TraceID().String() {
		t.Errorf("log trace_id = %v; want the span's %v", line["trace_id"], span.SpanContext().TraceID())
	}
}

func TestDefaultOrder(t *testing.T) {
	t.Parallel()
	tp, rec := newTracing(t)
	mp, reader := newMetrics(t)
	l, logs := newLogger(slog.LevelInfo)
	var deadlines []time.Time
	s := middleware.Default(middleware.DefaultConfig{
		Logger:  l,
		Timeout: time.Minute,
		Retry:   fastRetry,
		Tracing: []middleware.TracingOption{middleware.WithTracerProvider(tp)},
		Metrics: []middleware.MetricsOption{middleware.WithMeterProvider(mp)},
	})
	h := chain(worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, d)
		if len(deadlines) < 3 {
			return errors.New("transient")
		}
		return nil
	}), s.Middleware...)
	if err := observe(t.Context(), newMessage(), h, outcome(worker.OutcomeAck), s.Observers...); err != nil {
		t.Fatalf("err = %v; want success on the third try", err)
	}
	// Timeout is above Retry: every try shares one deadline.
	if len(deadlines) != 3 || deadlines[0].IsZero() || !deadlines[0].Equal(deadlines[1]) || !deadlines[1].Equal(deadlines[2]) {
		t.Errorf("deadlines of the tries = %v; want 3 equal ones", deadlines)
	}
	// Tracing, Metrics and Logging observe the delivery: one, a success.
	span := onlySpan(t, rec)
	if span.Status().Code != codes.Unset || len(span.Events()) != 2 {
		t.Errorf("span status %v with %d events; want success with 2 retry events", span.Status().Code, len(span.Events()))
	}
	if got := collectMetrics(t, reader)[middleware.MetricProcessed]; !maps.Equal(got, series{"fairway.outcome=ack,fairway.queue=emails": 1}) {
		t.Errorf("%s = %v; want one ack", middleware.MetricProcessed, got)
	}
	if line := logs.onlyLine(t); line["outcome"] != "ack" {
		t.Errorf("log line = %v; want one ack", line)
	}
}

func TestDefaultPanicInRetryPredicate(t *testing.T) {
	t.Parallel()
	l, logs := newLogger(slog.LevelInfo)
	s := middleware.Default(middleware.DefaultConfig{
		Logger: l,
		Retry:  []middleware.RetryOption{middleware.WithRetryIf(func(error) bool { panic("bad predicate") })},
	})
	h := chain(worker.HandlerFunc(func(context.Context, *broker.Message) error { return errors.New("transient") }), s.Middleware...)
	err := observe(t.Context(), newMessage(), h, outcome(worker.OutcomeRetry), s.Observers...)
	var pe *worker.PanicError
	if !errors.As(err, &pe) || pe.Value != "bad predicate" {
		t.Fatalf("err = %v; want the predicate's panic as a *worker.PanicError", err)
	}
	if line := logs.onlyLine(t); line["level"] != "ERROR" {
		t.Errorf("log line = %v; want ERROR", line)
	}
}

func TestDefaultLayers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg     middleware.DefaultConfig
		wantMws int
	}{
		{cfg: middleware.DefaultConfig{}, wantMws: 0},
		{cfg: middleware.DefaultConfig{Timeout: time.Second}, wantMws: 1},
		{cfg: middleware.DefaultConfig{Retry: []middleware.RetryOption{middleware.WithMaxTries(3)}}, wantMws: 1},
	}
	for _, tt := range tests {
		s := middleware.Default(tt.cfg)
		if len(s.Observers) != 3 || len(s.Middleware) != tt.wantMws {
			t.Errorf("Default(Timeout: %v, %d retry options) has %d observers and %d middleware; want 3 and %d",
				tt.cfg.Timeout, len(tt.cfg.Retry), len(s.Observers), len(s.Middleware), tt.wantMws)
		}
	}
}

// TestDefaultRetriesOnlyWhenAsked checks that Default retries in-process
// only when given Retry options: by default a failing handler runs once per
// durable attempt, so a message runs at most MaxAttempts times.
func TestDefaultRetriesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retry []middleware.RetryOption
		want  int32
	}{
		{nil, 1},
		{fastRetry, 3},
	} {
		l, _ := newLogger(slog.LevelError)
		var calls atomic.Int32
		s := middleware.Default(middleware.DefaultConfig{Logger: l, Retry: tc.retry})
		h := chain(worker.HandlerFunc(func(context.Context, *broker.Message) error {
			calls.Add(1)
			return errors.New("transient")
		}), s.Middleware...)
		if err := observe(t.Context(), newMessage(), h, outcome(worker.OutcomeRetry), s.Observers...); err == nil {
			t.Fatal("a failing handler's error was lost")
		}
		if calls.Load() != tc.want {
			t.Errorf("with %d retry options the handler ran %d times; want %d", len(tc.retry), calls.Load(), tc.want)
		}
	}
}
