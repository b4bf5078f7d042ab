package middleware_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// deliverAndPull delivers a message inside a span named "parent" through a
// broker that traces with tp, and pulls it back from queue "emails".
func deliverAndPull(t *testing.T, tp trace.TracerProvider) *broker.Message {
	t.Helper()
	_, rdb := testutil.MiniRedis(t)
	b, err := broker.New(rdb, broker.Config{TracerProvider: tp, Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.RegisterQueue(ctx, "emails", `^user\.`); err != nil {
		t.Fatal(err)
	}
	pctx, parent := tp.Tracer("test").Start(ctx, "parent")
	err = b.Deliver(pctx, map[string]any{"topic": "user.signup", "facet": "tenant-42", "user": 1})
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.Pull(ctx, "emails")
	if err != nil || m == nil {
		t.Fatalf("Pull = %v, %v; want the message", m, err)
	}
	return m
}

// spansByName maps ended spans by name; it fails t on duplicates.
func spansByName(t *testing.T, spans []sdktrace.ReadOnlySpan) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	out := make(map[string]sdktrace.ReadOnlySpan)
	for _, s := range spans {
		if _, dup := out[s.Name()]; dup {
			t.Fatalf("two spans named %q", s.Name())
		}
		out[s.Name()] = s
	}
	return out
}

func TestTracingContinuesProducerTrace(t *testing.T) {
	t.Parallel()
	failure := errors.New("smtp down")
	tests := []struct {
		name        string
		handler     func() error
		report      worker.Report // what the worker did
		wantStatus  codes.Code
		wantDesc    string
		wantStack   bool
		wantOutcome string
	}{
		{name: "success", handler: func() error { return nil }, report: outcome(worker.OutcomeAck), wantStatus: codes.Unset, wantOutcome: "ack"},
		{name: "error", handler: func() error { return failure }, report: outcome(worker.OutcomeRetry),
			wantStatus: codes.Error, wantDesc: "smtp down", wantOutcome: "retry"},
		{name: "panic", handler: func() error { boom("boom"); return nil }, report: outcome(worker.OutcomeRetry), wantStatus: codes.Error,
			wantDesc: "worker: handler panicked: boom", wantStack: true, wantOutcome: "retry"},
		{name: "success, but the ack found the lease lost", handler: func() error { return nil },
			report:     worker.Report{Outcome: worker.OutcomeLost, SettleErr: broker.ErrLeaseLost},
			wantStatus: codes.Error, wantDesc: "broker: lease lost", wantOutcome: "lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, rec := newTracing(t)
			m := deliverAndPull(t, tp)

			var inHandler trace.SpanContext
			h := worker.HandlerFunc(func(ctx context.Context, _ *broker.Message) error {
				inHandler = trace.SpanContextFromContext(ctx)
				return tt.handler()
			})
			_ = observe(t.Context(), m, h, tt.report, middleware.Tracing(middleware.WithTracerProvider(tp), middleware.WithPropagator(propagation.TraceContext{})))

			spans := spansByName(t, rec.Ended())
			parent, producer, consumer := spans["parent"], spans["deliver user.signup"], spans["process emails"]
			if parent == nil || producer == nil || consumer == nil {
				t.Fatalf("spans %v; want parent, deliver user.signup, process emails", spans)
			}
			for name, s := range spans {
				if s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
					t.Errorf("span %q is in trace %v; want one trace %v", name, s.SpanContext().TraceID(), parent.SpanContext().TraceID())
				}
			}
			if got, want := consumer.Parent().SpanID(), producer.SpanContext().SpanID(); got != want {
				t.Errorf("consumer's parent = %v; want the producer span %v", got, want)
			}
			if links := consumer.Links(); len(links) != 1 || !links[0].SpanContext.Equal(producer.SpanContext().WithRemote(true)) {
				t.Errorf("consumer links = %v; want one to the producer span", links)
			}
			if consumer.SpanKind() != trace.SpanKindConsumer {
				t.Errorf("kind = %v; want consumer", consumer.SpanKind())
			}
			if got := consumer.InstrumentationScope().Name; got != middleware.ScopeName {
				t.Errorf("scope = %q; want %q", got, middleware.ScopeName)
			}
			if !inHandler.Equal(consumer.SpanContext()) {
				t.Errorf("handler ran in span %v; want the consumer span", inHandler.SpanID())
			}
			checkConsumerAttrs(t, consumer, m, tt.wantOutcome)
			if st := consumer.Status(); st.Code != tt.wantStatus || st.Description != tt.wantDesc {
				t.Errorf("status = %v %q; want %v %q", st.Code, st.Description, tt.wantStatus, tt.wantDesc)
			}
			checkException(t, consumer, tt.wantStatus == codes.Error, tt.wantStack)
		})
	}
}

// checkConsumerAttrs checks the semantic-convention attributes of m's span.
func checkConsumerAttrs(t *testing.T, s sdktrace.ReadOnlySpan, m *broker.Message, outcome string) {
	t.Helper()
	got := spanAttrs(s)
	want := []attribute.KeyValue{
		semconv.MessagingSystemKey.String("fairway"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName("user.signup"),
		semconv.MessagingConsumerGroupName("emails"),
		semconv.MessagingMessageID(m.ID),
		semconv.MessagingMessageBodySize(len(m.Body)),
		middleware.FacetKey.String("tenant-42"),
		middleware.AttemptKey.Int(1),
		middleware.OutcomeKey.String(outcome),
	}
	for _, kv := range want {
		if got[kv.Key] != kv.Value {
			t.Errorf("attribute %s = %v; want %v", kv.Key, got[kv.Key].String(), kv.Value.String())
		}
	}
}

// checkException checks the span's exception event.
func checkException(t *testing.T, s sdktrace.ReadOnlySpan, want, wantStack bool) {
	t.Helper()
	var found bool
	for _, e := range s.Events() {
		if e.Name != semconv.ExceptionEventName {
			continue
		}
		found = true
		var stack string
		for _, kv := range e.Attributes {
			if kv.Key == semconv.ExceptionStacktraceKey {
				stack = kv.Value.AsString()
			}
		}
		if wantStack != strings.Contains(stack, boomFrame) {
			t.Errorf("exception stack = %q; want one through boom: %v", stack, wantStack)
		}
	}
	if found != want {
		t.Errorf("exception event recorded: %v; want %v", found, want)
	}
}

func TestTracingWithoutTraceContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		inSpan     bool
		wantParent bool
	}{
		{name: "starts a new trace", inSpan: false},
		{name: "continues the context's span", inSpan: true, wantParent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, rec := newTracing(t)
			ctx := t.Context()
			var outer trace.Span
			if tt.inSpan {
				ctx, outer = tp.Tracer("test").Start(ctx, "outer")
			}
			h := worker.HandlerFunc(func(context.Context, *broker.Message) error { return nil })
			if err := observe(ctx, newMessage(), h, outcome(worker.OutcomeAck),
				middleware.Tracing(middleware.WithTracerProvider(tp), nil, middleware.WithPropagator(nil))); err != nil {
				t.Fatal(err)
			}
			s := onlySpan(t, rec)
			if got := s.Parent().IsValid(); got != tt.wantParent {
				t.Errorf("span has a parent: %v; want %v", got, tt.wantParent)
			}
			if tt.inSpan && s.Parent().SpanID() != outer.SpanContext().SpanID() {
				t.Errorf("parent = %v; want the context's span", s.Parent().SpanID())
			}
			if len(s.Links()) != 0 {
				t.Errorf("links = %v; want none", s.Links())
			}
		})
	}
}
