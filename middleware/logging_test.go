package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
)

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// newLogger returns a JSON logger at level and the buffer it writes to.
func newLogger(level slog.Level) (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level})), b
}

// lines decodes the lines written so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// onlyLine returns the one line written; it fails t if there are more.
func (b *logBuffer) onlyLine(t *testing.T) map[string]any {
	t.Helper()
	lines := b.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d log lines; want 1: %v", len(lines), lines)
	}
	return lines[0]
}

func TestLogging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		handler     func() error
		report      worker.Report // what the worker did
		wantLevel   string
		wantOutcome string
		wantError   string // "" when none
		wantSettle  string // "" when none
		wantStack   bool
	}{
		{name: "success", handler: func() error { return nil }, report: outcome(worker.OutcomeAck), wantLevel: "INFO", wantOutcome: "ack"},
		{name: "failure to retry", handler: func() error { return errors.New("smtp down") },
			report:    worker.Report{Outcome: worker.OutcomeRetry, RetryDelay: 2 * time.Second},
			wantLevel: "WARN", wantOutcome: "retry", wantError: "smtp down"},
		{name: "failure on the last attempt", handler: func() error { return errors.New("smtp down") }, report: outcome(worker.OutcomeDead),
			wantLevel: "ERROR", wantOutcome: "dead", wantError: "smtp down"},
		{name: "skip retry", handler: func() error { return worker.SkipRetry(errors.New("bad address")) }, report: outcome(worker.OutcomeDead),
			wantLevel: "ERROR", wantOutcome: "dead", wantError: "worker: do not retry: bad address"},
		{name: "panic", handler: func() error { boom("boom"); return nil }, report: outcome(worker.OutcomeRetry),
			wantLevel: "ERROR", wantOutcome: "retry", wantError: "worker: handler panicked: boom", wantStack: true},
		{name: "success, but the ack found the lease lost", handler: func() error { return nil },
			report:    worker.Report{Outcome: worker.OutcomeLost, SettleErr: broker.ErrLeaseLost},
			wantLevel: "WARN", wantOutcome: "lost", wantSettle: "broker: lease lost"},
		{name: "released by a stopping worker", handler: func() error { return context.Canceled }, report: outcome(worker.OutcomeRelease),
			wantLevel: "INFO", wantOutcome: "release", wantError: "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, buf := newLogger(slog.LevelDebug)
			m := newMessage()
			_ = observe(t.Context(), m, worker.HandlerFunc(func(context.Context, *broker.Message) error { return tt.handler() }),
				tt.report, middleware.Logging(l))

			rec := buf.onlyLine(t)
			want := map[string]any{
				"level": tt.wantLevel, "msg": middleware.LogMessage, "outcome": tt.wantOutcome,
				"queue": m.Queue, "topic": m.Topic, "facet": m.Facet, "id": m.ID, "attempt": float64(m.Attempt),
			}
			for k, v := range want {
				if rec[k] != v {
					t.Errorf("%s = %v; want %v", k, rec[k], v)
				}
			}
			if _, ok := rec["duration"].(float64); !ok {
				t.Errorf("duration = %v; want a number", rec["duration"])
			}
			if delay, ok := rec["retry_delay"]; ok != (tt.report.Outcome == worker.OutcomeRetry) || ok && delay != float64(tt.report.RetryDelay) {
				t.Errorf("retry_delay = %v; want %v only on a retry", delay, tt.report.RetryDelay)
			}
			if got, _ := rec["error"].(string); got != tt.wantError {
				t.Errorf("error = %q; want %q", got, tt.wantError)
			}
			if got, _ := rec["settle_error"].(string); got != tt.wantSettle {
				t.Errorf("settle_error = %q; want %q", got, tt.wantSettle)
			}
			stack, _ := rec["stack"].(string)
			if tt.wantStack != strings.Contains(stack, boomFrame) {
				t.Errorf("stack = %q; want one through boom: %v", stack, tt.wantStack)
			}
			if _, ok := rec["trace_id"]; ok {
				t.Errorf("trace_id logged outside any span")
			}
		})
	}
}

func TestLoggingLevelFilter(t *testing.T) {
	t.Parallel()
	l, buf := newLogger(slog.LevelWarn)
	ok := worker.HandlerFunc(func(context.Context, *broker.Message) error { return nil })
	failed := worker.HandlerFunc(func(context.Context, *broker.Message) error { return errors.New("x") })
	_ = observe(t.Context(), newMessage(), ok, outcome(worker.OutcomeAck), middleware.Logging(l))
	_ = observe(t.Context(), newMessage(), failed, outcome(worker.OutcomeRetry), middleware.Logging(l))
	if rec := buf.onlyLine(t); rec["outcome"] != "retry" {
		t.Fatalf("line = %v; want only the failure", rec)
	}
}

func TestLoggingTraceIDs(t *testing.T) {
	t.Parallel()
	tp, _ := newTracing(t)
	ctx, span := tp.Tracer("test").Start(t.Context(), "handle")
	defer span.End()
	l, buf := newLogger(slog.LevelInfo)
	h := worker.HandlerFunc(func(context.Context, *broker.Message) error { return nil })
	_ = observe(ctx, newMessage(), h, outcome(worker.OutcomeAck), middleware.Logging(l))
	rec := buf.onlyLine(t)
	sc := span.SpanContext()
	if rec["trace_id"] != sc.TraceID().String() || rec["span_id"] != sc.SpanID().String() {
		t.Fatalf("trace_id, span_id = %v, %v; want %v, %v", rec["trace_id"], rec["span_id"], sc.TraceID(), sc.SpanID())
	}
}
