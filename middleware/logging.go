package middleware

import (
	"context"
	"log/slog"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/trace"
)

// LogMessage is the message of the line Logging writes for each message.
const LogMessage = "fairway: message handled"

// Logging returns an observer (worker.Observer; register it with the
// worker's Observe) that writes one line to l once the worker has acted on
// a message, with the attributes queue, topic, facet, id, attempt, duration,
// outcome (what the worker did, from its worker.Report), retry_delay when it
// is retried, and error on failure. A *worker.PanicError adds stack; an ack,
// nack or release that failed adds settle_error. Inside a span, trace_id and
// span_id are added too. A nil l means slog.Default().
//
// The level follows the outcome: Info when the message is acked or released
// by a stopping worker, Warn when it will be retried or its lease was lost,
// Error when it becomes a dead letter or the handler panicked. Success is
// logged at Info, not Debug, because the line is the record that a message
// was handled; to keep only problems, give Logging a logger whose handler
// level is Warn.
func Logging(l *slog.Logger) worker.Observer {
	if l == nil {
		l = slog.Default()
	}
	return &loggingObserver{l: l}
}

// loggingObserver is the observer made by Logging.
type loggingObserver struct {
	l *slog.Logger
}

var _ worker.Observer = (*loggingObserver)(nil)

// Start adds nothing: the line is written by Finish.
func (o *loggingObserver) Start(ctx context.Context, _ *broker.Message) context.Context { return ctx }

// Finish writes the line for m, which the worker handled as r says.
func (o *loggingObserver) Finish(ctx context.Context, m *broker.Message, r worker.Report) {
	pe := r.Panicked()
	level := logLevel(r.Outcome, pe != nil)
	if !o.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 13)
	attrs = append(attrs,
		slog.String("queue", m.Queue),
		slog.String("topic", m.Topic),
		slog.String("facet", m.Facet),
		slog.String("id", m.ID),
		slog.Int("attempt", r.Attempt),
		slog.Duration("duration", r.Duration),
		slog.String("outcome", r.Outcome.String()),
	)
	if r.Outcome == worker.OutcomeRetry {
		attrs = append(attrs, slog.Duration("retry_delay", r.RetryDelay))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.Any("error", r.Err))
	}
	if r.SettleErr != nil {
		attrs = append(attrs, slog.Any("settle_error", r.SettleErr))
	}
	if pe != nil {
		attrs = append(attrs, slog.String("stack", string(pe.Stack)))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	o.l.LogAttrs(ctx, level, LogMessage, attrs...)
}

// logLevel is the level of the line for a message with this outcome.
func logLevel(o worker.Outcome, panicked bool) slog.Level {
	switch {
	case panicked, o == worker.OutcomeDead:
		return slog.LevelError
	case o == worker.OutcomeRetry, o == worker.OutcomeLost:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}
