package middleware

import (
	"context"
	"errors"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// TracingOption configures Tracing.
type TracingOption func(*tracingConfig)

type tracingConfig struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
}

// WithTracerProvider sets the provider of Tracing's tracer; nil is ignored.
// Defaults to OpenTelemetry's global provider.
func WithTracerProvider(tp trace.TracerProvider) TracingOption {
	return func(c *tracingConfig) {
		if tp != nil {
			c.provider = tp
		}
	}
}

// WithPropagator sets the propagator that reads trace context from message
// headers; nil is ignored. Use the one the producers' broker.Config uses.
// Defaults to OpenTelemetry's global propagator.
func WithPropagator(p propagation.TextMapPropagator) TracingOption {
	return func(c *tracingConfig) {
		if p != nil {
			c.propagator = p
		}
	}
}

// Tracing returns middleware that runs the handler in an OpenTelemetry
// span of kind Consumer named "process <queue>", with the instrumentation
// scope ScopeName.
//
// The span continues the producer's trace: Tracing extracts the trace context
// that Deliver wrote into the message headers, makes the producer's span the
// parent, and also links to it. A message without trace context starts a
// span under whatever span the context holds, or a new trace.
//
// The span has the messaging semantic-convention attributes
// messaging.system ("fairway"), messaging.operation.type ("process"),
// messaging.operation.name ("process"), messaging.destination.name (the
// topic), messaging.consumer.group.name (the queue), messaging.message.id
// and messaging.message.body.size, and Fairway's fairway.facet,
// fairway.attempt and, at the end, fairway.outcome.
//
// A handler error is recorded as an exception event and sets the span's
// status to Error; a *worker.PanicError adds its stack to the event. Put
// Tracing outside Recover, as Default does, so that panics reach it as
// errors: a panic that reaches Tracing itself is recorded the same way, then
// re-panicked.
func Tracing(opts ...TracingOption) worker.Middleware {
	var c tracingConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.provider == nil {
		c.provider = otel.GetTracerProvider()
	}
	if c.propagator == nil {
		c.propagator = otel.GetTextMapPropagator()
	}
	tracer := c.provider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	return func(next worker.Handler) worker.Handler {
		return &tracingHandler{next: next, tracer: tracer, propagator: c.propagator}
	}
}

// tracingHandler is the handler made by Tracing.
type tracingHandler struct {
	next       worker.Handler
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

var _ worker.Handler = (*tracingHandler)(nil)

// Handle runs the next handler in a consumer span.
func (h *tracingHandler) Handle(ctx context.Context, m *broker.Message) error {
	ctx, span := h.start(ctx, m)
	p, err := handle(ctx, h.next, m)
	finishSpan(ctx, span, m, err)
	if p != nil {
		panic(p.Value)
	}
	return err
}

// start starts m's span, a child of the producer's span when m's headers
// carry its context.
func (h *tracingHandler) start(ctx context.Context, m *broker.Message) (context.Context, trace.Span) {
	outer := trace.SpanContextFromContext(ctx)
	ctx = h.propagator.Extract(ctx, broker.HeaderCarrier(m.Headers))
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(spanAttributes(m)...),
	}
	if producer := trace.SpanContextFromContext(ctx); producer.IsValid() && !producer.Equal(outer) {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
	}
	return h.tracer.Start(ctx, "process "+m.Queue, opts...)
}

// spanAttributes are the attributes of m's span known at its start.
func spanAttributes(m *broker.Message) []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.MessagingSystemKey.String(broker.MessagingSystem),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(m.Topic),
		semconv.MessagingConsumerGroupName(m.Queue),
		semconv.MessagingMessageID(m.ID),
		semconv.MessagingMessageBodySize(len(m.Body)),
		FacetKey.String(m.Facet),
		AttemptKey.Int(m.Attempt),
	}
}

// finishSpan records the handler's result err and ends the span.
func finishSpan(ctx context.Context, span trace.Span, m *broker.Message, err error) {
	defer span.End()
	span.SetAttributes(OutcomeKey.String(worker.Classify(ctx, m, err).String()))
	if err == nil {
		return
	}
	var (
		opts []trace.EventOption
		pe   *worker.PanicError
	)
	if errors.As(err, &pe) {
		opts = append(opts, trace.WithAttributes(semconv.ExceptionStacktrace(string(pe.Stack))))
	}
	span.RecordError(err, opts...)
	span.SetStatus(codes.Error, err.Error())
}
