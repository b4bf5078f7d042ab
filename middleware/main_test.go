package middleware_test

import (
	"context"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// newMessage returns a message as a worker would hand it to a handler.
func newMessage() *broker.Message {
	return &broker.Message{
		ID:      "0001-abc",
		Queue:   "emails",
		Topic:   "user.signup",
		Facet:   "tenant-42",
		Body:    []byte(`{"user":1}`),
		Attempt: 1,
	}
}

// chain wraps h in mws, the first outermost, as the worker's Use does.
func chain(h worker.Handler, mws ...worker.Middleware) worker.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// boomFrame is how boom shows in a stack.
const boomFrame = "middleware_test.boom("

// boom panics with v. A panic's stack shows it only if it was captured where
// the panic happened, not after a re-panic.
func boom(v any) { panic(v) }

// newTracing returns a tracer provider that records every span.
func newTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// onlySpan returns the one ended span of rec; it fails t if there are more.
func onlySpan(t *testing.T, rec *tracetest.SpanRecorder) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans ended; want 1", len(spans))
	}
	return spans[0]
}

// spanAttrs maps a span's attributes by key.
func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	out := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		out[kv.Key] = kv.Value
	}
	return out
}

// newMetrics returns a meter provider read on demand.
func newMetrics(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, reader
}

// series is a metric's data points, keyed by their encoded attribute set
// ("fairway.outcome=ack,fairway.queue=emails"), with a sum's value or a
// histogram's count.
type series map[string]int64

// collectMetrics reads every metric of reader, by name.
func collectMetrics(t *testing.T, reader *sdkmetric.ManualReader) map[string]series {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := make(map[string]series)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s := make(series)
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					s[p.Attributes.Encoded(attribute.DefaultEncoder())] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					s[p.Attributes.Encoded(attribute.DefaultEncoder())] = int64(p.Count)
				}
			default:
				t.Fatalf("metric %s has unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = s
		}
	}
	return out
}

// observe runs h for m the way a worker does, without one: each observer's
// Start in order, h on the last context (its panic recovered into a
// *worker.PanicError), then each Finish in the reverse order with rep, whose
// Err is h's error and whose Outcome the test chose, as the worker would.
func observe(ctx context.Context, m *broker.Message, h worker.Handler, rep worker.Report, obs ...worker.Observer) error {
	ctxs := make([]context.Context, len(obs))
	for i, o := range obs {
		ctx = o.Start(ctx, m)
		ctxs[i] = ctx
	}
	rep.Err = middleware.Recover()(h).Handle(ctx, m)
	rep.Attempt = m.Attempt
	rep.Duration = time.Millisecond
	for i := len(obs) - 1; i >= 0; i-- {
		obs[i].Finish(ctxs[i], m, rep)
	}
	return rep.Err
}

// outcome is a report of o, for observe.
func outcome(o worker.Outcome) worker.Report { return worker.Report{Outcome: o} }
