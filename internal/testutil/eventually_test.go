package testutil

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestEventuallySucceeds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := runFake(func(tb testing.TB) {
		Eventually(tb, 5*time.Second, func() bool { return calls.Add(1) >= 3 })
	})
	if f.failed {
		t.Fatalf("Eventually failed: %s", f.output())
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("cond called %d times, want 3", got)
	}
}

func TestEventuallyZeroTimeoutChecksOnce(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := runFake(func(tb testing.TB) {
		Eventually(tb, 0, func() bool { calls.Add(1); return true })
	})
	if f.failed || calls.Load() != 1 {
		t.Fatalf("failed=%v calls=%d, want success after 1 call", f.failed, calls.Load())
	}
}

func TestEventuallyFailsAtDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		msgAndArgs []any
		want       string
	}{
		{"no message", nil, "condition not met within 50ms"},
		{"plain message", []any{"queue drained"}, "queue drained"},
		{"format", []any{"%d jobs left in %s", 3, "q1"}, "3 jobs left in q1"},
		{"non-string first", []any{42, "x"}, "42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			start := time.Now()
			returned := false
			f := runFake(func(tb testing.TB) {
				Eventually(tb, 50*time.Millisecond, func() bool { calls.Add(1); return false }, tt.msgAndArgs...)
				returned = true
			})
			elapsed := time.Since(start)
			if !f.failed {
				t.Fatal("Eventually did not report failure")
			}
			if returned {
				t.Error("Eventually returned normally after failing; want t.Fatal semantics")
			}
			if !strings.Contains(f.output(), tt.want) {
				t.Errorf("failure message %q does not contain %q", f.output(), tt.want)
			}
			if elapsed < 50*time.Millisecond {
				t.Errorf("failed after %v, before the 50ms timeout", elapsed)
			}
			if calls.Load() < 2 {
				t.Errorf("cond called %d times; want polling", calls.Load())
			}
		})
	}
}
