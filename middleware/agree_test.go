package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
)

// The span, the metrics and the log line of a delivery tell what the worker
// did, after it did it: a handler that succeeds or fails after its lease was
// taken from it (here by a Release behind the worker's back) is reported
// lost, not acked or retried; a panic is recovered once and heard once.
func TestObserversAgreeWithTheWorker(t *testing.T) {
	t.Parallel()
	// steal takes the lease and keeps it, so that no other run can settle
	// the message before the worker's own ack or nack arrives (a message
	// already settled by a later run is "gone", which an ack cannot tell
	// from its own lost reply).
	steal := func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
		if err := b.Release(ctx, m); err != nil {
			return err
		}
		got, err := b.PullWith(ctx, m.Queue, broker.PullOptions{Lease: time.Minute})
		if err == nil && (len(got.Messages) != 1 || got.Messages[0].ID != m.ID) {
			err = fmt.Errorf("the thief pulled %d messages, not %s", len(got.Messages), m.ID)
		}
		return err
	}
	tests := []struct {
		name        string
		first       func(ctx context.Context, b *broker.Broker, m *broker.Message) error // the first run; later runs succeed
		wantOutcome string
		wantStatus  codes.Code
		wantLevel   string
		wantFailed  int64
	}{
		{name: "ack refused: lease lost", first: func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
			return steal(ctx, b, m)
		}, wantOutcome: "lost", wantStatus: codes.Error, wantLevel: "WARN"},
		{name: "nack refused: lease lost", first: func(ctx context.Context, b *broker.Broker, m *broker.Message) error {
			return errors.Join(errors.New("smtp down"), steal(ctx, b, m))
		}, wantOutcome: "lost", wantStatus: codes.Error, wantLevel: "WARN", wantFailed: 1},
		{name: "panic", first: func(context.Context, *broker.Broker, *broker.Message) error {
			boom("boom")
			return nil
		}, wantOutcome: "retry", wantStatus: codes.Error, wantLevel: "ERROR", wantFailed: 1},
		{name: "ack", first: func(context.Context, *broker.Broker, *broker.Message) error { return nil },
			wantOutcome: "ack", wantStatus: codes.Unset, wantLevel: "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
				tp, rec := newTracing(t)
				mp, reader := newMetrics(t)
				l, logs := newLogger(slog.LevelInfo)
				b, err := broker.New(rdb, broker.Config{Namespace: testutil.Namespace(t)})
				if err != nil {
					t.Fatal(err)
				}
				if err := b.RegisterQueue(t.Context(), "emails", "."); err != nil {
					t.Fatal(err)
				}
				w := worker.New(b, worker.Config{
					Logger:       slog.New(slog.DiscardHandler),
					Concurrency:  1, // no second pull while the first run holds the slot
					PollInterval: 10 * time.Millisecond,
					RetryBackoff: func(int) time.Duration { return time.Millisecond },
				})
				middleware.Default(middleware.DefaultConfig{
					Logger:  l,
					Tracing: []middleware.TracingOption{middleware.WithTracerProvider(tp)},
					Metrics: []middleware.MetricsOption{middleware.WithMeterProvider(mp)},
				}).Install(w)
				var runs atomic.Int32
				w.HandleFunc("emails", func(ctx context.Context, m *broker.Message) error {
					if runs.Add(1) == 1 {
						return tt.first(ctx, b, m)
					}
					return nil
				})
				if err := b.DeliverBytes(t.Context(), "user.signup", "tenant-1", []byte("{}")); err != nil {
					t.Fatal(err)
				}
				if err := w.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, 10*time.Second, func() bool { return len(logs.lines(t)) >= 1 && runs.Load() >= 1 }, "the first report")
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := w.Stop(ctx); err != nil {
					t.Fatal(err)
				}

				line := logs.lines(t)[0]
				if line["outcome"] != tt.wantOutcome || line["level"] != tt.wantLevel {
					t.Errorf("first log line = %v; want outcome %s at %s", line, tt.wantOutcome, tt.wantLevel)
				}
				spans := rec.Ended()
				if len(spans) != int(runs.Load()) {
					t.Fatalf("%d spans for %d runs", len(spans), runs.Load())
				}
				first := spans[0]
				if got := spanAttrs(first)[middleware.OutcomeKey].AsString(); got != tt.wantOutcome || first.Status().Code != tt.wantStatus {
					t.Errorf("first span: outcome %q, status %v; want %q, %v", got, first.Status().Code, tt.wantOutcome, tt.wantStatus)
				}
				if line["trace_id"] != first.SpanContext().TraceID().String() {
					t.Errorf("log line's trace_id %v is not the span's %v", line["trace_id"], first.SpanContext().TraceID())
				}
				got := collectMetrics(t, reader)
				processed := series{"fairway.outcome=" + tt.wantOutcome + ",fairway.queue=emails": 1}
				if n := int64(runs.Load()) - 1; n > 0 {
					processed["fairway.outcome=ack,fairway.queue=emails"] += n
				}
				if !maps.Equal(got[middleware.MetricProcessed], processed) {
					t.Errorf("%s = %v; want %v", middleware.MetricProcessed, got[middleware.MetricProcessed], processed)
				}
				if n := got[middleware.MetricFailed]["fairway.queue=emails"]; n != tt.wantFailed {
					t.Errorf("%s = %d; want %d", middleware.MetricFailed, n, tt.wantFailed)
				}
				if n := len(logs.lines(t)); n != int(runs.Load()) {
					t.Errorf("%d log lines for %d runs", n, runs.Load())
				}
			})
		})
	}
}
