package middleware

import (
	"context"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Names of the instruments made by Metrics.
const (
	// MetricProcessed counts handled messages, by queue and outcome.
	MetricProcessed = "fairway.messages.processed"
	// MetricFailed counts handled messages whose handler returned an error
	// or panicked, by queue.
	MetricFailed = "fairway.messages.failed"
	// MetricRetried counts failed messages that will be retried later (the
	// outcome "retry"), by queue.
	MetricRetried = "fairway.messages.retried"
	// MetricDeadLettered counts failed messages that become dead letters
	// (the outcome "dead"), by queue. Leases that expire too often are
	// dead-lettered by the broker and not counted here.
	MetricDeadLettered = "fairway.messages.dead_lettered"
	// MetricDuration is the handler's duration in seconds, by queue and
	// outcome.
	MetricDuration = "fairway.handler.duration"
	// MetricInFlight is the number of messages being handled, by queue.
	MetricInFlight = "fairway.messages.in_flight"
)

// durationBuckets are MetricDuration's bucket boundaries, in seconds: from
// 5ms for quick jobs to 10 minutes for long ones.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// MetricsOption configures Metrics.
type MetricsOption func(*metricsConfig)

type metricsConfig struct {
	provider metric.MeterProvider
}

// WithMeterProvider sets the provider of Metrics' meter; nil is ignored.
// Defaults to OpenTelemetry's global provider.
func WithMeterProvider(mp metric.MeterProvider) MetricsOption {
	return func(c *metricsConfig) {
		if mp != nil {
			c.provider = mp
		}
	}
}

// Metrics returns an observer (worker.Observer; register it with the
// worker's Observe) that records OpenTelemetry metrics of handled messages,
// with the instrumentation scope ScopeName: the counters MetricProcessed,
// MetricFailed, MetricRetried and MetricDeadLettered, the histogram
// MetricDuration and the up-down counter MetricInFlight. The outcome is the
// one the worker acted on (worker.Report): an ack that Redis refused because
// the lease was lost counts as "lost", not "ack".
//
// Their attributes are few-valued only: the queue (QueueKey) and, on
// MetricProcessed and MetricDuration, the outcome (OutcomeKey). Facets,
// topics and message IDs would make a series per tenant or per message; they
// go on spans and log lines instead.
//
// Metrics counts deliveries, not the tries Retry makes within one.
func Metrics(opts ...MetricsOption) worker.Observer {
	var c metricsConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.provider == nil {
		c.provider = otel.GetMeterProvider()
	}
	return newInstruments(c.provider.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)))
}

// instruments are Metrics' instruments, shared by every handler it wraps.
type instruments struct {
	processed, failed, retried, dead metric.Int64Counter
	duration                         metric.Float64Histogram
	inFlight                         metric.Int64UpDownCounter
}

// newInstruments makes the instruments on meter. An error, which the
// constant names make unlikely, goes to otel.Handle; the instrument returned
// with it still works.
func newInstruments(meter metric.Meter) *instruments {
	var inst instruments
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit("{message}"))
		handleErr(err)
		return c
	}
	inst.processed = counter(MetricProcessed, "Messages handled.")
	inst.failed = counter(MetricFailed, "Messages whose handler failed.")
	inst.retried = counter(MetricRetried, "Failed messages that will be retried.")
	inst.dead = counter(MetricDeadLettered, "Failed messages that became dead letters.")
	var err error
	inst.duration, err = meter.Float64Histogram(MetricDuration,
		metric.WithDescription("Time the handler took."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	handleErr(err)
	inst.inFlight, err = meter.Int64UpDownCounter(MetricInFlight,
		metric.WithDescription("Messages being handled."), metric.WithUnit("{message}"))
	handleErr(err)
	return &inst
}

func handleErr(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

var _ worker.Observer = (*instruments)(nil)

// Start counts m in flight.
func (inst *instruments) Start(ctx context.Context, m *broker.Message) context.Context {
	inst.inFlight.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(QueueKey.String(m.Queue))))
	return ctx
}

// Finish counts m as the worker's report r says.
func (inst *instruments) Finish(ctx context.Context, m *broker.Message, r worker.Report) {
	queue := metric.WithAttributeSet(attribute.NewSet(QueueKey.String(m.Queue)))
	inst.inFlight.Add(ctx, -1, queue)
	both := metric.WithAttributeSet(attribute.NewSet(QueueKey.String(m.Queue), OutcomeKey.String(r.Outcome.String())))
	inst.processed.Add(ctx, 1, both)
	inst.duration.Record(ctx, r.Duration.Seconds(), both)
	if r.Err == nil {
		return
	}
	inst.failed.Add(ctx, 1, queue)
	switch r.Outcome {
	case worker.OutcomeRetry:
		inst.retried.Add(ctx, 1, queue)
	case worker.OutcomeDead:
		inst.dead.Add(ctx, 1, queue)
	}
}
