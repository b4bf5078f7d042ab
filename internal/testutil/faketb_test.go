package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeTB records failures and skips instead of acting on a real test.
// Methods it does not override panic (the embedded TB is nil).
type fakeTB struct {
	testing.TB

	mu      sync.Mutex
	failed  bool
	skipped bool
	msgs    []string
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return "TestFake" }

func (f *fakeTB) Errorf(format string, args ...any) {
	f.record(&f.failed, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatal(args ...any) {
	f.record(&f.failed, fmt.Sprint(args...))
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(&f.failed, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (f *fakeTB) Skip(args ...any) {
	f.record(&f.skipped, fmt.Sprint(args...))
	runtime.Goexit()
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.record(&f.skipped, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (f *fakeTB) record(flag *bool, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*flag = true
	f.msgs = append(f.msgs, msg)
}

func (f *fakeTB) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.msgs, "\n")
}

// runFake calls fn with a new fakeTB on its own goroutine, as the testing
// package would, so that Fatal and Skip can end it with runtime.Goexit.
func runFake(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}
