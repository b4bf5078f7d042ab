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
	mws := middleware.Default(middleware.DefaultConfig{
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
	}), mws...)

	err := h.Handle(t.Context(), newMessage()) // a panic escaping would fail the test
	var pe *worker.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("err = %v; want a *worker.PanicError of boom", err)
	}
	// Recovered below the observers: the stack still shows the handler.
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
	h := chain(worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, d)
		if len(deadlines) < 3 {
			return errors.New("transient")
		}
		return nil
	}), middleware.Default(middleware.DefaultConfig{
		Logger:  l,
		Timeout: time.Minute,
		Retry:   fastRetry,
		Tracing: []middleware.TracingOption{middleware.WithTracerProvider(tp)},
		Metrics: []middleware.MetricsOption{middleware.WithMeterProvider(mp)},
	})...)
	if err := h.Handle(t.Context(), newMessage()); err != nil {
		t.Fatalf("err = %v; want success on the third try", err)
	}
	// Timeout is above Retry: every try shares one deadline.
	if len(deadlines) != 3 || deadlines[0].IsZero() || !deadlines[0].Equal(deadlines[1]) || !deadlines[1].Equal(deadlines[2]) {
		t.Errorf("deadlines of the tries = %v; want 3 equal ones", deadlines)
	}
	// Tracing, Metrics and Logging are above Retry: one delivery, one success.
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

func TestDefaultRecoverIsAboveRetry(t *testing.T) {
	t.Parallel()
	l, logs := newLogger(slog.LevelInfo)
	h := chain(worker.HandlerFunc(func(context.Context, *broker.Message) error { return errors.New("transient") }),
		middleware.Default(middleware.DefaultConfig{
			Logger: l,
			Retry:  []middleware.RetryOption{middleware.WithRetryIf(func(error) bool { panic("bad predicate") })},
		})...)
	err := h.Handle(t.Context(), newMessage())
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
		cfg  middleware.DefaultConfig
		want int
	}{
		{cfg: middleware.DefaultConfig{}, want: 4},
		{cfg: middleware.DefaultConfig{Timeout: time.Second}, want: 5},
		{cfg: middleware.DefaultConfig{Retry: []middleware.RetryOption{middleware.WithMaxTries(3)}}, want: 5},
	}
	for _, tt := range tests {
		if got := len(middleware.Default(tt.cfg)); got != tt.want {
			t.Errorf("Default(Timeout: %v, %d retry options) has %d layers; want %d", tt.cfg.Timeout, len(tt.cfg.Retry), got, tt.want)
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
		h := chain(worker.HandlerFunc(func(context.Context, *broker.Message) error {
			calls.Add(1)
			return errors.New("transient")
		}), middleware.Default(middleware.DefaultConfig{Logger: l, Retry: tc.retry})...)
		if err := h.Handle(t.Context(), newMessage()); err == nil {
			t.Fatal("a failing handler's error was lost")
		}
		if calls.Load() != tc.want {
			t.Errorf("with %d retry options the handler ran %d times; want %d", len(tc.retry), calls.Load(), tc.want)
		}
	}
}
