package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// exampleMessage is a message as the worker hands it to a handler.
var exampleMessage = &broker.Message{ID: "0001", Queue: "emails", Topic: "user.signup", Facet: "tenant-1", Attempt: 1}

func ExampleDefault() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Drop the time and duration, which change from run to run.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	mws := middleware.Default(middleware.DefaultConfig{
		Logger:  logger,
		Timeout: time.Minute,
		Retry:   []middleware.RetryOption{middleware.WithInitialInterval(time.Millisecond)},
	})
	// With a worker: w.Use(mws...). Here, the chain is applied by hand.
	tries := 0
	var h worker.Handler = worker.HandlerFunc(func(context.Context, *broker.Message) error {
		tries++
		if tries == 1 {
			return errors.New("connection reset")
		}
		return nil
	})
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	err := h.Handle(context.Background(), exampleMessage)
	fmt.Println("tries:", tries, "err:", err)
	// Output:
	// level=INFO msg="fairway: message handled" queue=emails topic=user.signup facet=tenant-1 id=0001 attempt=1 outcome=ack
	// tries: 2 err: <nil>
}

func ExampleRecover() {
	h := middleware.Recover()(worker.HandlerFunc(func(context.Context, *broker.Message) error {
		panic("nil map")
	}))
	err := h.Handle(context.Background(), exampleMessage)
	var pe *worker.PanicError
	fmt.Println(errors.As(err, &pe), pe.Value)
	// Output: true nil map
}

func ExampleRetry() {
	tries := 0
	h := middleware.Retry(
		middleware.WithMaxTries(5),
		middleware.WithInitialInterval(time.Millisecond),
	)(worker.HandlerFunc(func(context.Context, *broker.Message) error {
		tries++
		if tries < 3 {
			return errors.New("database busy")
		}
		return nil
	}))
	err := h.Handle(context.Background(), exampleMessage)
	fmt.Println("tries:", tries, "err:", err)
	// Output: tries: 3 err: <nil>
}

func ExampleTimeout() {
	h := middleware.Timeout(time.Millisecond)(worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
		<-ctx.Done() // a slow call that watches its context
		return ctx.Err()
	}))
	err := h.Handle(context.Background(), exampleMessage)
	fmt.Println(errors.Is(err, middleware.ErrTimeout))
	fmt.Println(err)
	// Output:
	// true
	// middleware: handler timed out after 1ms: context deadline exceeded
}

func ExampleLogging() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	h := middleware.Logging(logger)(worker.HandlerFunc(func(context.Context, *broker.Message) error {
		return errors.New("smtp down")
	}))
	_ = h.Handle(context.Background(), exampleMessage)
	// Output:
	// {"level":"WARN","msg":"fairway: message handled","queue":"emails","topic":"user.signup","facet":"tenant-1","id":"0001","attempt":1,"outcome":"retry","error":"smtp down"}
}

func ExampleTracing() {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	h := middleware.Tracing(middleware.WithTracerProvider(tp))(
		worker.HandlerFunc(func(context.Context, *broker.Message) error { return nil }))
	_ = h.Handle(context.Background(), exampleMessage)
	for _, s := range recorder.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
	}
	// Output: process emails consumer
}

func ExampleMetrics() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	h := middleware.Metrics(middleware.WithMeterProvider(mp))(
		worker.HandlerFunc(func(context.Context, *broker.Message) error { return nil }))
	_ = h.Handle(context.Background(), exampleMessage)

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == middleware.MetricProcessed {
			p := sum.DataPoints[0]
			fmt.Println(m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value)
		}
	}
	// Output: fairway.messages.processed fairway.outcome=ack,fairway.queue=emails 1
}
