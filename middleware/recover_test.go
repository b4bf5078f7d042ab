package middleware_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/middleware"
	"github.com/fairwayhq/fairway/worker"
)

func TestRecover(t *testing.T) {
	t.Parallel()
	errValue := errors.New("boom error")
	errPlain := errors.New("plain failure")
	tests := []struct {
		name       string
		handler    func() error
		wantPanic  bool
		wantValue  any // for panics
		wantUnwrap error
		wantErr    error // when the handler returns
	}{
		{name: "panic with a string", handler: func() error { boom("boom"); return nil }, wantPanic: true, wantValue: "boom"},
		{name: "panic with an error", handler: func() error { boom(errValue); return nil }, wantPanic: true, wantValue: errValue, wantUnwrap: errValue},
		{name: "returns an error", handler: func() error { return errPlain }, wantErr: errPlain},
		{name: "succeeds", handler: func() error { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := middleware.Recover()(worker.HandlerFunc(func(context.Context, *broker.Message) error {
				return tt.handler()
			}))
			err := h.Handle(t.Context(), newMessage())
			var pe *worker.PanicError
			if got := errors.As(err, &pe); got != tt.wantPanic {
				t.Fatalf("errors.As(%v, *PanicError) = %v; want %v", err, got, tt.wantPanic)
			}
			if !tt.wantPanic {
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("err = %v; want %v", err, tt.wantErr)
				}
				return
			}
			if pe.Value != tt.wantValue {
				t.Errorf("Value = %v; want %v", pe.Value, tt.wantValue)
			}
			if got := pe.Unwrap(); got != tt.wantUnwrap { //nolint:errorlint // identity is the point
				t.Errorf("Unwrap() = %v; want %v", got, tt.wantUnwrap)
			}
			if tt.wantUnwrap != nil && !errors.Is(err, tt.wantUnwrap) {
				t.Errorf("errors.Is(err, panic value) = false")
			}
			if !strings.Contains(string(pe.Stack), boomFrame) {
				t.Errorf("stack does not show the panicking function:\n%s", pe.Stack)
			}
		})
	}
}

func TestRecoverPanicNil(t *testing.T) {
	t.Parallel()
	h := middleware.Recover()(worker.HandlerFunc(func(context.Context, *broker.Message) error {
		panic(nil) //nolint:govet // a nil panic must be recovered too
	}))
	err := h.Handle(t.Context(), newMessage())
	var pnil *runtime.PanicNilError
	if !errors.As(err, &pnil) {
		t.Fatalf("err = %v; want a PanicError wrapping *runtime.PanicNilError", err)
	}
}
