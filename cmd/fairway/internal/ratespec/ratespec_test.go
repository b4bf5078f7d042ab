package ratespec_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/ratespec"
)

// TestParse checks what ratespec adds to broker.ParseRateLimit, which
// broker's tests cover: "default", and the broker's answer otherwise.
func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ratespec.Spec{
		"default":   {Default: true},
		" Default ": {Default: true},
		"600/1m,20": {Limit: broker.RateLimit{N: 600, Per: time.Minute, Burst: 20}},
		"off":       {},
	} {
		if got, err := ratespec.Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := ratespec.Parse("10/week"); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Errorf("Parse(10/week) = %v, want the broker's ErrInvalidArgument", err)
	}
}
