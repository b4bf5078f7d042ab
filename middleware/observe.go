package middleware

import "go.opentelemetry.io/otel/attribute"

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
	// OutcomeKey is what the worker did with the message once handled
	// (worker.Report's Outcome), as named by worker.Outcome's String: "ack", "retry", "dead", "release" or
	// "lost".
	OutcomeKey = attribute.Key("fairway.outcome")
	// QueueKey is the queue a message was pulled from, on metrics. Spans
	// carry it as messaging.consumer.group.name.
	QueueKey = attribute.Key("fairway.queue")
)
