package middleware

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"go.opentelemetry.io/otel/trace"
)

// LogMessage is the message of the line Logging writes for each message.
const LogMessage = "fairway: message handled"

// Logging returns middleware that writes one line to l when the handler
// returns, with the attributes queue, topic, facet, id, attempt, duration,
// outcome (see worker.Classify) and, on failure, error. A *worker.PanicError
// adds stack. Inside a span, trace_id and span_id are added too. A nil l
// means slog.Default().
//
// The level follows the outcome: Info when the message is acked or released
// by a stopping worker, Warn when it will be retried or its lease was lost,
// Error when it becomes a dead letter or the handler panicked. Success is
// logged at Info, not Debug, because the line is the record that a message
// was handled; to keep only problems, give Logging a logger whose handler
// level is Warn.
//
// A panic that reaches Logging (when Recover is not below it) is logged at
// Error with its stack, then re-panicked.
func Logging(l *slog.Logger) worker.Middleware {
	if l == nil {
		l = slog.Default()
	}
	return func(next worker.Handler) worker.Handler {
		return &loggingHandler{next: next, l: l}
	}
}

// loggingHandler is the handler made by Logging.
type loggingHandler struct {
	next worker.Handler
	l    *slog.Logger
}

var _ worker.Handler = (*loggingHandler)(nil)

// Handle calls the next handler and logs its result.
func (h *loggingHandler) Handle(ctx context.Context, m *broker.Message) error {
	start := time.Now()
	p, err := handle(ctx, h.next, m)
	h.log(ctx, m, time.Since(start), err)
	if p != nil {
		panic(p.Value)
	}
	return err
}

// log writes the line for m, handled in d with the result err.
func (h *loggingHandler) log(ctx context.Context, m *broker.Message, d time.Duration, err error) {
	outcome := worker.Classify(ctx, m, err)
	var pe *worker.PanicError
	panicked := errors.As(err, &pe)
	level := logLevel(outcome, panicked)
	if !h.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String("queue", m.Queue),
		slog.String("topic", m.Topic),
		slog.String("facet", m.Facet),
		slog.String("id", m.ID),
		slog.Int("attempt", m.Attempt),
		slog.Duration("duration", d),
		slog.String("outcome", outcome.String()),
	)
	if err != nil {
		attrs = append(attrs, slog.Any("error", err))
	}
	if panicked {
		attrs = append(attrs, slog.String("stack", string(pe.Stack)))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	h.l.LogAttrs(ctx, level, LogMessage, attrs...)
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
