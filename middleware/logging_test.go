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
		attempt     int
		handler     func() error
		recover     bool // put Recover under Logging
		wantLevel   string
		wantOutcome string
		wantError   string // "" when none
		wantStack   bool
	}{
		{name: "success", handler: func() error { return nil }, wantLevel: "INFO", wantOutcome: "ack"},
		{name: "failure to retry", handler: func() error { return errors.New("smtp down") },
			wantLevel: "WARN", wantOutcome: "retry", wantError: "smtp down"},
		{name: "failure on the last attempt", attempt: 25, handler: func() error { return errors.New("smtp down") },
			wantLevel: "ERROR", wantOutcome: "dead", wantError: "smtp down"},
		{name: "skip retry", handler: func() error { return worker.SkipRetry(errors.New("bad address")) },
			wantLevel: "ERROR", wantOutcome: "dead", wantError: "worker: do not retry: bad address"},
		{name: "panic under Recover", recover: true, handler: func() error { boom("boom"); return nil },
			wantLevel: "ERROR", wantOutcome: "retry", wantError: "worker: handler panicked: boom", wantStack: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, buf := newLogger(slog.LevelDebug)
			mws := []worker.Middleware{middleware.Logging(l)}
			if tt.recover {
				mws = append(mws, middleware.Recover())
			}
			h := chain(worker.HandlerFunc(func(context.Context, *broker.Message) error { return tt.handler() }), mws...)
			m := newMessage()
			m.Attempt = max(tt.attempt, 1)
			_ = h.Handle(t.Context(), m)

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
			if got, _ := rec["error"].(string); got != tt.wantError {
				t.Errorf("error = %q; want %q", got, tt.wantError)
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

func TestLoggingRepanics(t *testing.T) {
	t.Parallel()
	l, buf := newLogger(slog.LevelInfo)
	h := middleware.Logging(l)(worker.HandlerFunc(func(context.Context, *broker.Message) error { boom("boom"); return nil }))
	if v := mustPanic(t, func() { _ = h.Handle(t.Context(), newMessage()) }); v != "boom" {
		t.Fatalf("re-panicked with %v; want boom", v)
	}
	rec := buf.onlyLine(t)
	stack, _ := rec["stack"].(string)
	if rec["level"] != "ERROR" || !strings.Contains(stack, boomFrame) {
		t.Fatalf("line = %v; want ERROR with the stack", rec)
	}
}

func TestLoggingLevelFilter(t *testing.T) {
	t.Parallel()
	l, buf := newLogger(slog.LevelWarn)
	ok := middleware.Logging(l)(worker.HandlerFunc(func(context.Context, *broker.Message) error { return nil }))
	failed := middleware.Logging(l)(worker.HandlerFunc(func(context.Context, *broker.Message) error { return errors.New("x") }))
	_ = ok.Handle(t.Context(), newMessage())
	_ = failed.Handle(t.Context(), newMessage())
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
	h := middleware.Logging(l)(worker.HandlerFunc(func(context.Context, *broker.Message) error { return nil }))
	_ = h.Handle(ctx, newMessage())
	rec := buf.onlyLine(t)
	sc := span.SpanContext()
	if rec["trace_id"] != sc.TraceID().String() || rec["span_id"] != sc.SpanID().String() {
		t.Fatalf("trace_id, span_id = %v, %v; want %v, %v", rec["trace_id"], rec["span_id"], sc.TraceID(), sc.SpanID())
	}
}
