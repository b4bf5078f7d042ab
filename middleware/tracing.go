package middleware

import (
	"context"

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

// Tracing returns an observer (worker.Observer; register it with the
// worker's Observe) that runs each delivery in an OpenTelemetry span of kind
// Consumer named "process <queue>", with the instrumentation scope
// ScopeName. The span starts before the middleware and the handler, which
// run in its context, so their spans are its children.
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
// fairway.attempt and, at the end, fairway.outcome: what the worker did,
// as its worker.Report says.
//
// The span ends once the worker has acted on the outcome. A handler error is
// recorded as an exception event and sets the span's status to Error; a
// *worker.PanicError adds its stack to the event. A message the worker lost
// hold of after a successful handler (the ack refused because the lease was
// lost) ends with status Error and the broker's error.
func Tracing(opts ...TracingOption) worker.Observer {
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
	return &tracingObserver{tracer: tracer, propagator: c.propagator}
}

// tracingObserver is the observer made by Tracing.
type tracingObserver struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

var _ worker.Observer = (*tracingObserver)(nil)

// Start starts m's span, a child of the producer's span when m's headers
// carry its context.
func (o *tracingObserver) Start(ctx context.Context, m *broker.Message) context.Context {
	outer := trace.SpanContextFromContext(ctx)
	ctx = o.propagator.Extract(ctx, broker.HeaderCarrier(m.Headers))
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(spanAttributes(m)...),
	}
	if producer := trace.SpanContextFromContext(ctx); producer.IsValid() && !producer.Equal(outer) {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
	}
	ctx, _ = o.tracer.Start(ctx, "process "+m.Queue, opts...)
	return ctx
}

// Finish records what the worker did and ends the span.
func (o *tracingObserver) Finish(ctx context.Context, _ *broker.Message, r worker.Report) {
	span := trace.SpanFromContext(ctx)
	defer span.End()
	span.SetAttributes(OutcomeKey.String(r.Outcome.String()))
	err := r.Err
	if err == nil {
		err = r.SettleErr
	}
	if err == nil {
		return
	}
	var opts []trace.EventOption
	if p := r.Panicked(); p != nil {
		opts = append(opts, trace.WithAttributes(semconv.ExceptionStacktrace(string(p.Stack))))
	}
	span.RecordError(err, opts...)
	span.SetStatus(codes.Error, err.Error())
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
