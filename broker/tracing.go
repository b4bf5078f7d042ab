package broker

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the OpenTelemetry instrumentation scope of the broker's spans.
const ScopeName = "github.com/fairwayhq/fairway/broker"

// MessagingSystem is the messaging.system attribute of Fairway's spans.
const MessagingSystem = "fairway"

// HeaderCarrier adapts message headers to OpenTelemetry's TextMapCarrier, so
// trace context travels with a message.
type HeaderCarrier map[string]string

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the header's value, or "".
func (c HeaderCarrier) Get(key string) string { return c[key] }

// Set stores a header.
func (c HeaderCarrier) Set(key, value string) { c[key] = value }

// Keys lists the headers.
func (c HeaderCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// tracer and propagator are the configured ones, or OpenTelemetry's globals.
func (b *Broker) tracer() trace.Tracer {
	tp := b.cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(ScopeName)
}

func (b *Broker) propagator() propagation.TextMapPropagator {
	if b.cfg.Propagator != nil {
		return b.cfg.Propagator
	}
	return otel.GetTextMapPropagator()
}

// startDeliverSpan starts a producer span for a batch of deliveries and
// injects its context into each delivery's headers.
func (b *Broker) startDeliverSpan(ctx context.Context, ds []Delivery) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKey.String(MessagingSystem),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("deliver"),
	}
	name := "deliver"
	if len(ds) == 1 {
		attrs = append(attrs, semconv.MessagingDestinationName(ds[0].Topic))
		name = "deliver " + ds[0].Topic
	} else {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(len(ds)))
	}
	ctx, span := b.tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	if !span.SpanContext().IsValid() {
		return ctx, span
	}
	prop := b.propagator()
	for i := range ds {
		h := make(HeaderCarrier, len(ds[i].Headers)+2)
		for k, v := range ds[i].Headers {
			h[k] = v
		}
		prop.Inject(ctx, h)
		ds[i].Headers = h
	}
	return ctx, span
}

// endSpan records err, if any, and ends the span.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
