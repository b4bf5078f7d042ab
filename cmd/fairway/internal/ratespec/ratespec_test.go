package ratespec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/ratespec"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ratespec.Spec{
		"10/1s":       {Limit: broker.RateLimit{N: 10, Per: time.Second}},
		"5/s":         {Limit: broker.RateLimit{N: 5, Per: time.Second}},
		"600/1m, 20":  {Limit: broker.RateLimit{N: 600, Per: time.Minute, Burst: 20}},
		"100/500ms,0": {Limit: broker.RateLimit{N: 100, Per: 500 * time.Millisecond}},
		"1/1h30m":     {Limit: broker.RateLimit{N: 1, Per: 90 * time.Minute}},
		"off":         {},
		"OFF":         {},
		"none":        {},
		"0":           {},
		"default":     {Default: true},
	} {
		got, err := ratespec.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if !want.Default {
			if back, err := ratespec.Parse(ratespec.Format(got.Limit)); err != nil || back.Limit != got.Limit {
				t.Errorf("Parse(Format(%+v)) = %+v, %v", got.Limit, back, err)
			}
		}
	}
	for in, why := range map[string]string{
		"":         "no /",
		"10":       "no /",
		"ten/1s":   "N is not",
		"0/1s":     "N is not",
		"-1/1s":    "N is not",
		"10/":      "PERIOD",
		"10/week":  "PERIOD",
		"10/-1s":   "PERIOD",
		"10/1us":   "whole milliseconds",
		"10/1s,x":  "BURST",
		"10/1s,-1": "BURST",
	} {
		if _, err := ratespec.Parse(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Parse(%q) = %v, want an error with %q", in, err, why)
		}
	}
}

// TestFormatAsTyped checks that a rate limit prints as an operator types
// it, and that what it prints parses back to the same limit.
func TestFormatAsTyped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"1/1m", "1/1m"},
		{"10/1s", "10/1s"},
		{"5/s", "5/1s"},
		{"5/m", "5/1m"},
		{"100/500ms", "100/500ms"},
		{"3/1500ms", "3/1500ms"},
		{"2/90s", "2/90s"},
		{"1/1h", "1/1h"},
		{"1/1h30m", "1/90m"},
		{"1/24h", "1/24h"},
		{"1/8784h", "1/8784h"},
		{"600/1m,20", "600/1m,20"},
		{"600/1m, 20", "600/1m,20"},
		{"10/1s,1", "10/1s"},
		{"10/1s,0", "10/1s"},
		{"off", "off"},
		{"none", "off"},
		{"0", "off"},
	} {
		spec, err := ratespec.Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		got := ratespec.Format(spec.Limit)
		if got != tc.want {
			t.Errorf("Format(Parse(%q)) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := ratespec.Parse(got)
		if err != nil {
			t.Fatalf("Parse(%q) of Format: %v", got, err)
		}
		norm := func(r broker.RateLimit) broker.RateLimit { r.Burst = max(r.Burst, 1); return r }
		if !spec.Limit.IsZero() && norm(back.Limit) != norm(spec.Limit) || spec.Limit.IsZero() != back.Limit.IsZero() {
			t.Errorf("Parse(Format(Parse(%q))) = %+v, want %+v", tc.in, back.Limit, spec.Limit)
		}
	}
	if got := ratespec.FormatPeriod(1500 * time.Microsecond); got != "1.5ms" {
		t.Errorf("FormatPeriod(1.5ms) = %q, want Go's form", got)
	}
}
