package middleware

import (
	"context"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/attribute"
)

// ScopeName is the OpenTelemetry instrumentation scope of the spans made by
// Tracing and the instruments made by Metrics: the package's import path.
const ScopeName = "github.com/fairwayhq/fairway/middleware"

// Attribute keys of Fairway's own span and metric attributes.
const (
	// FacetKey is the message's facet, on spans only: facets are many.
	FacetKey = attribute.Key("fairway.facet")
	// AttemptKey is the message's delivery attempt, 1 on the first, on
	// spans only.
	AttemptKey = attribute.Key("fairway.attempt")
	// OutcomeKey is what the worker does with the message once handled, as
	// named by worker.Outcome's String: "ack", "retry", "dead", "release" or
	// "lost".
	OutcomeKey = attribute.Key("fairway.outcome")
	// QueueKey is the queue a message was pulled from, on metrics. Spans
	// carry it as messaging.consumer.group.name.
	QueueKey = attribute.Key("fairway.queue")
)

// handle runs next. If next panics, handle recovers, captures the value and
// stack in p, and returns p as err too, so that an observing middleware can
// record the failure and then re-panic with p.Value.
func handle(ctx context.Context, next worker.Handler, m *broker.Message) (p *worker.PanicError, err error) {
	defer func() {
		if v := recover(); v != nil {
			p = worker.NewPanicError(v)
			err = p
		}
	}()
	return nil, next.Handle(ctx, m)
}
