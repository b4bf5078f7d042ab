package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
)

// FuzzJSON feeds message bodies to a worker.JSON handler: it never panics;
// it calls the typed function exactly when encoding/json decodes the body,
// with the decoded value, and otherwise returns an error wrapping
// ErrSkipRetry, so that the message becomes a dead letter.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"to":"a@b.c","n":1}`, `{}`, `[]`, `null`, `{"to":`, "\xff", `{"n":1e999}`,
		`{"to":"\ud800"}`, `{"a":{"a":{"a":{}}}}`, `{"n":"1"}`, ""} {
		f.Add([]byte(s))
	}
	type email struct {
		To string `json:"to"`
		N  int    `json:"n"`
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want email
		wantErr := json.Unmarshal(body, &want)
		called := false
		h := worker.JSON(func(_ context.Context, got email) error {
			called = true
			if got != want {
				t.Fatalf("decoded %+v, encoding/json gives %+v", got, want)
			}
			return nil
		})
		err := h.Handle(context.Background(), &broker.Message{ID: "id", Body: body})
		if called != (wantErr == nil) || (err != nil) != (wantErr != nil) {
			t.Fatalf("body %q: called %v, err %v; encoding/json says %v", body, called, err, wantErr)
		}
		if err != nil && !errors.Is(err, worker.ErrSkipRetry) {
			t.Fatalf("error %v does not wrap ErrSkipRetry", err)
		}
	})
}
