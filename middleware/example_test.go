package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// exampleMessage is a message as the worker hands it to a handler.
var exampleMessage = &broker.Message{ID: "0001", Queue: "emails", Topic: "user.signup", Facet: "tenant-1", Attempt: 1}

func ExampleDefault() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()
	ctx := context.Background()
	b, err := broker.New(rdb, broker.Config{})
	if err != nil {
		panic(err)
	}
	if err := b.RegisterQueue(ctx, "emails", `^user\.`); err != nil {
		panic(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Drop what changes from run to run.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "duration", "id":
				return slog.Attr{}
			}
			return a
		},
	}))
	w := worker.New(b, worker.Config{
		Logger:       slog.New(slog.DiscardHandler),
		RetryBackoff: func(int) time.Duration { return 5 * time.Millisecond },
		PollInterval: 5 * time.Millisecond,
	})
	middleware.Default(middleware.DefaultConfig{Logger: logger, Timeout: time.Minute}).Install(w)
	done := make(chan struct{})
	tries := 0
	w.HandleFunc("emails", func(context.Context, *broker.Message) error {
		tries++
		if tries == 1 {
			return errors.New("connection reset")
		}
		close(done)
		return nil
	})
	if err := b.Deliver(ctx, map[string]any{"topic": "user.signup", "facet": "tenant-1"}); err != nil {
		panic(err)
	}
	if err := w.Start(ctx); err != nil {
		panic(err)
	}
	<-done
	_ = w.Stop(ctx) // returns once the observers have heard the ack
	// Output:
	// level=WARN msg="fairway: message handled" queue=emails topic=user.signup facet=tenant-1 attempt=1 outcome=retry retry_delay=5ms error="connection reset"
	// level=INFO msg="fairway: message handled" queue=emails topic=user.signup facet=tenant-1 attempt=2 outcome=ack
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
	// A worker calls Start before the handler and Finish once it has acted
	// on the outcome; w.Observe(middleware.Logging(logger)) is all it takes.
	// Here the calls are made by hand.
	obs := middleware.Logging(logger)
	ctx := obs.Start(context.Background(), exampleMessage)
	obs.Finish(ctx, exampleMessage, worker.Report{
		Outcome: worker.OutcomeRetry, Err: errors.New("smtp down"), Attempt: 1, RetryDelay: time.Second,
	})
	// Output:
	// {"level":"WARN","msg":"fairway: message handled","queue":"emails","topic":"user.signup","facet":"tenant-1","id":"0001","attempt":1,"outcome":"retry","retry_delay":1000000000,"error":"smtp down"}
}

func ExampleTracing() {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	// With a worker: w.Observe(obs). Here the calls are made by hand.
	obs := middleware.Tracing(middleware.WithTracerProvider(tp))
	ctx := obs.Start(context.Background(), exampleMessage) // the handler runs in ctx
	obs.Finish(ctx, exampleMessage, worker.Report{Outcome: worker.OutcomeAck, Attempt: 1})
	for _, s := range recorder.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
	}
	// Output: process emails consumer
}

func ExampleMetrics() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	// With a worker: w.Observe(obs). Here the calls are made by hand.
	obs := middleware.Metrics(middleware.WithMeterProvider(mp))
	ctx := obs.Start(context.Background(), exampleMessage)
	obs.Finish(ctx, exampleMessage, worker.Report{Outcome: worker.OutcomeAck, Attempt: 1, Duration: time.Millisecond})

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
