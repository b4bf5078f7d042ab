package brokerlink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/brokerlink"
)

// TestAddHistoryUnregistered calls AddHistory with types no package
// registered a writer for: it fails with an error, not a panic. (Package
// broker's writer is tested through broker's history tests.)
func TestAddHistoryUnregistered(t *testing.T) {
	type counts struct{ n int }
	err := brokerlink.AddHistory(context.Background(), 1, time.Now(), map[string]counts{"q": {1}})
	if err == nil || !strings.Contains(err.Error(), "no history writer") {
		t.Fatalf("AddHistory with unregistered types: %v, want an error", err)
	}
}

// TestAddHistoryRegistered registers a writer and reaches it.
func TestAddHistoryRegistered(t *testing.T) {
	type broker struct{ got map[string]int }
	brokerlink.RegisterAddHistory(func(_ context.Context, b *broker, _ time.Time, c map[string]int) error {
		b.got = c
		return nil
	})
	b := &broker{}
	if err := brokerlink.AddHistory(context.Background(), b, time.Now(), map[string]int{"q": 3}); err != nil {
		t.Fatal(err)
	}
	if b.got["q"] != 3 {
		t.Fatalf("writer got %v", b.got)
	}
}
