package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// panicky is the handler frame that the dead letter's stack must show.
func panicky(_ context.Context, m *broker.Message) error {
	if m.Facet == "panics" {
		panic("boom")
	}
	return errors.New("plain failure")
}

// A message whose handler panics on its last attempt becomes a dead letter
// with the panic's stack, which shows the handler's frame; one that fails
// with an ordinary error has none.
func TestPanicStackOnDeadLetter(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{MaxAttempts: 2})
		w := worker.New(b, quick(worker.Config{RetryBackoff: func(int) time.Duration { return time.Millisecond }}))
		w.HandleFunc("q", panicky)
		for _, f := range []string{"panics", "fails"} {
			if err := b.DeliverBytes(t.Context(), "t", f, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		startWorker(t, w, b)
		testutil.Eventually(t, 10*time.Second, func() bool { return stats(t, b).Dead == 2 }, "both dead")
		ds, err := b.DeadLetters(t.Context(), "q", 0, 2)
		if err != nil || len(ds) != 2 {
			t.Fatalf("DeadLetters = %v, %v", ds, err)
		}
		for _, d := range ds {
			switch d.Facet {
			case "panics":
				if d.Error != "worker: handler panicked: boom" || !strings.Contains(d.Stack, "worker_test.panicky") ||
					!strings.HasPrefix(d.Stack, "goroutine ") || len(d.Stack) > broker.MaxStackBytes {
					t.Errorf("panic's dead letter: error %q, stack:\n%s", d.Error, d.Stack)
				}
			case "fails":
				if d.Error != "plain failure" || d.Stack != "" {
					t.Errorf("failure's dead letter: error %q, stack %q; want no stack", d.Error, d.Stack)
				}
			}
		}
	})
}

type signup struct {
	Email string `json:"email"`
	N     int    `json:"n"`
}

// A body that worker.JSON cannot decode fails with one sentence that names
// the message, the type and what is wrong where; the error matches
// ErrSkipRetry and unwraps to encoding/json's.
func TestJSONDecodeErrorText(t *testing.T) {
	t.Parallel()
	h := worker.JSON(func(context.Context, signup) error { return nil })
	for _, tc := range []struct{ body, want string }{
		{"xyz", "message 0K3 body is not valid JSON for worker_test.signup: invalid character 'x' looking for beginning of value at byte 1"},
		{`{"n":1}x`, "message 0K3 body is not valid JSON for worker_test.signup: invalid character 'x' after top-level value at byte 8"},
		{`{"email":`, "message 0K3 body is not valid JSON for worker_test.signup: it ends after byte 9, inside a value"},
		{"", "message 0K3 body is not valid JSON for worker_test.signup: it is empty"},
		{`{"n":"7"}`, `message 0K3 body does not fit worker_test.signup: field "n" is a JSON string, not a Go int`},
		{`[1]`, "message 0K3 body does not fit worker_test.signup: it is a JSON array"},
	} {
		err := h.Handle(t.Context(), &broker.Message{ID: "0K3", Body: []byte(tc.body)})
		if err == nil || err.Error() != tc.want {
			t.Errorf("body %q: %v\n want %s", tc.body, err, tc.want)
			continue
		}
		var de *worker.DecodeError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if !errors.Is(err, worker.ErrSkipRetry) || !errors.As(err, &de) || !errors.As(err, &syn) && !errors.As(err, &typ) {
			t.Errorf("body %q: %v does not match ErrSkipRetry, *DecodeError and encoding/json's error", tc.body, err)
		}
	}
}

// The dead letter of a body that does not decode keeps that sentence as
// its reason, with no prefix.
func TestJSONDecodeDeadLetter(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		w := worker.New(b, quick(worker.Config{}))
		w.Handle("q", worker.JSON(func(context.Context, signup) error { return nil }))
		if err := b.DeliverBytes(t.Context(), "t", "f", []byte("xyz")); err != nil {
			t.Fatal(err)
		}
		startWorker(t, w, b)
		testutil.Eventually(t, 10*time.Second, func() bool { return stats(t, b).Dead == 1 }, "dead")
		ds, err := b.DeadLetters(t.Context(), "q", 0, 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("DeadLetters = %v, %v", ds, err)
		}
		want := "message " + ds[0].ID + " body is not valid JSON for worker_test.signup: invalid character 'x' looking for beginning of value at byte 1"
		if ds[0].Error != want || ds[0].Stack != "" {
			t.Errorf("dead letter reason %q (stack %q), want %q", ds[0].Error, ds[0].Stack, want)
		}
	})
}
