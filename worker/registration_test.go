package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
)

func nop(context.Context, *broker.Message) error { return nil }

func TestRegistrationErrors(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb, broker.Config{})
	tests := []struct {
		name  string
		queue string
		h     worker.Handler
		want  string
	}{
		{"empty queue", "", worker.HandlerFunc(nop), "invalid queue name"},
		{"bad queue", "a b", worker.HandlerFunc(nop), "invalid queue name"},
		{"nil handler", "q", nil, "nil handler"},
		{"duplicate", "dup", worker.HandlerFunc(nop), "already has a handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := worker.New(b, quick(worker.Config{}))
			w.HandleFunc("dup", nop)
			err := w.Register(tt.queue, tt.h)
			if !errors.Is(err, worker.ErrInvalidRegistration) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Register = %v, want ErrInvalidRegistration saying %q", err, tt.want)
			}
			defer func() {
				if msg, _ := recover().(string); !strings.Contains(msg, tt.want) {
					t.Fatalf("Handle panicked with %q, want a message saying %q", msg, tt.want)
				}
			}()
			w.Handle(tt.queue, tt.h)
		})
	}
}

func TestUsePanicsOnNilMiddleware(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	w := worker.New(newBroker(t, rdb, broker.Config{}), quick(worker.Config{}))
	defer func() {
		if recover() == nil {
			t.Fatal("Use(nil) did not panic")
		}
	}()
	w.Use(nil)
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb, broker.Config{})
	tests := []struct {
		name string
		w    *worker.Worker
		want string
	}{
		{"nil broker", worker.New(nil, worker.Config{}), "nil broker"},
		{"no handler", worker.New(b, quick(worker.Config{})), "no handler"},
		{"negative concurrency", worker.New(b, quick(worker.Config{Concurrency: -1})), "Concurrency"},
		{"short lease", worker.New(b, quick(worker.Config{LeaseDuration: time.Millisecond})), "LeaseDuration"},
		{"bad weight", worker.New(b, quick(worker.Config{Queues: map[string]int{"q": 0}})), "weight"},
		{"bad queue", worker.New(b, quick(worker.Config{Queues: map[string]int{"a b": 1}})), "invalid queue name"},
		{"queue without handler", worker.New(b, quick(worker.Config{Queues: map[string]int{"other": 1}})), "no handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no handler" && tt.name != "nil broker" {
				_ = tt.w.Register("q", worker.HandlerFunc(nop))
			}
			err := tt.w.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestRegisterAfterStartFails(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newBroker(t, rdb, broker.Config{})
	w := worker.New(b, quick(worker.Config{}))
	w.HandleFunc("q", nop)
	startWorker(t, w, b)
	if err := w.Register("other", worker.HandlerFunc(nop)); !errors.Is(err, worker.ErrInvalidRegistration) {
		t.Fatalf("Register after Start = %v", err)
	}
}
