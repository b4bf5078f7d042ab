package testutil

import (
	"fmt"
	"testing"
	"time"
)

// pollInterval is how often Eventually re-checks its condition.
const pollInterval = 5 * time.Millisecond

// Eventually calls cond every few milliseconds until it returns true, and
// fails the test with t.Fatal if it has not done so within timeout. cond
// is always called at least once, and once more at the deadline.
//
// msgAndArgs optionally describes the condition: either a single value,
// or a format string followed by its arguments.
//
// Like t.Fatal, Eventually must be called from the goroutine running the
// test.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if cond() {
			return
		}
		if !time.Now().Before(deadline) {
			break
		}
		<-ticker.C
	}
	t.Fatalf("condition not met within %v: %s", timeout, formatMsg(msgAndArgs))
}

// formatMsg renders the optional message arguments of Eventually.
func formatMsg(msgAndArgs []any) string {
	switch len(msgAndArgs) {
	case 0:
		return "(no description)"
	case 1:
		return fmt.Sprint(msgAndArgs[0])
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}
