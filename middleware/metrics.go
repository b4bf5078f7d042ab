package middleware

import (
	"context"
	"time"

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

// Metrics returns middleware that records OpenTelemetry metrics of handled
// messages, with the instrumentation scope ScopeName: the counters
// MetricProcessed, MetricFailed, MetricRetried and MetricDeadLettered, the
// histogram MetricDuration and the up-down counter MetricInFlight. Whether a
// failed message is retried or dead is decided by worker.Classify.
//
// Their attributes are few-valued only: the queue (QueueKey) and, on
// MetricProcessed and MetricDuration, the outcome (OutcomeKey). Facets,
// topics and message IDs would make a series per tenant or per message; they
// go on spans and log lines instead.
//
// Metrics counts deliveries, not the tries Retry makes within one. A panic
// that reaches Metrics (when Recover is not below it) is counted as a failure,
// then re-panicked.
func Metrics(opts ...MetricsOption) worker.Middleware {
	var c metricsConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.provider == nil {
		c.provider = otel.GetMeterProvider()
	}
	inst := newInstruments(c.provider.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)))
	return func(next worker.Handler) worker.Handler {
		return &metricsHandler{next: next, instruments: inst}
	}
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

// metricsHandler is the handler made by Metrics.
type metricsHandler struct {
	next worker.Handler
	*instruments
}

var _ worker.Handler = (*metricsHandler)(nil)

// Handle calls the next handler and records its result.
func (h *metricsHandler) Handle(ctx context.Context, m *broker.Message) error {
	queue := metric.WithAttributeSet(attribute.NewSet(QueueKey.String(m.Queue)))
	h.inFlight.Add(ctx, 1, queue)
	start := time.Now()
	p, err := handle(ctx, h.next, m)
	h.inFlight.Add(ctx, -1, queue)
	h.record(ctx, m, err, time.Since(start), queue)
	if p != nil {
		panic(p.Value)
	}
	return err
}

// record counts m, handled in d with the result err.
func (h *metricsHandler) record(ctx context.Context, m *broker.Message, err error, d time.Duration, queue metric.MeasurementOption) {
	outcome := worker.Classify(ctx, m, err)
	both := metric.WithAttributeSet(attribute.NewSet(QueueKey.String(m.Queue), OutcomeKey.String(outcome.String())))
	h.processed.Add(ctx, 1, both)
	h.duration.Record(ctx, d.Seconds(), both)
	if err == nil {
		return
	}
	h.failed.Add(ctx, 1, queue)
	switch outcome {
	case worker.OutcomeRetry:
		h.retried.Add(ctx, 1, queue)
	case worker.OutcomeDead:
		h.dead.Add(ctx, 1, queue)
	}
}
