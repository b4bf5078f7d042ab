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
	for _, tc := range []struct {
		in   string
		want ratespec.Spec
	}{
		{"default", ratespec.Spec{Default: true}},
		{" Default ", ratespec.Spec{Default: true}},
		{"600/1m,20", ratespec.Spec{Limit: broker.RateLimit{N: 600, Per: time.Minute, Burst: 20}}},
		{"off", ratespec.Spec{}},
	} {
		if got, err := ratespec.Parse(tc.in); err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ratespec.Parse("10/week"); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Errorf("Parse(10/week) = %v, want the broker's ErrInvalidArgument", err)
	}
}
