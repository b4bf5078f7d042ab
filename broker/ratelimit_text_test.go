package broker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]broker.RateLimit{
		"10/1s":       {N: 10, Per: time.Second},
		"5/s":         {N: 5, Per: time.Second},
		"600/1m, 20":  {N: 600, Per: time.Minute, Burst: 20},
		"100/500ms,0": {N: 100, Per: 500 * time.Millisecond},
		"1/1h30m":     {N: 1, Per: 90 * time.Minute},
		"off":         {},
		"OFF":         {},
		"none":        {},
		"0":           {},
	} {
		if got, err := broker.ParseRateLimit(in); err != nil || got != want {
			t.Errorf("ParseRateLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestParseRateLimitRefuses(t *testing.T) {
	t.Parallel()
	for in, why := range map[string]string{
		"":              "no /",
		"10":            "no /",
		"ten/1s":        "N is not",
		"0/1s":          "N is not",
		"-1/1s":         "N is not",
		"10/":           "PERIOD",
		"10/week":       "PERIOD",
		"10/-1s":        "PERIOD",
		"10/1us":        "whole milliseconds",
		"10/1s,x":       "BURST",
		"10/1s,-1":      "BURST",
		"10/1s,11":      "burst 11 is outside",
		"2000000000/1s": "count",
		"1/9000h":       "period",
		"default":       "no /",
	} {
		_, err := broker.ParseRateLimit(in)
		if !errors.Is(err, broker.ErrInvalidArgument) || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseRateLimit(%q) = %v, want ErrInvalidArgument with %q", in, err, why)
		}
	}
}

// TestRateLimitStringAsTyped checks that a rate limit prints as an operator types
// it, and that what it prints parses back to the same limit.
func TestRateLimitStringAsTyped(t *testing.T) {
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
		spec, err := broker.ParseRateLimit(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		got := spec.String()
		if got != tc.want {
			t.Errorf("String(Parse(%q)) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := broker.ParseRateLimit(got)
		if err != nil {
			t.Fatalf("Parse(%q) of String: %v", got, err)
		}
		norm := func(r broker.RateLimit) broker.RateLimit { r.Burst = max(r.Burst, 1); return r }
		if !spec.IsZero() && norm(back) != norm(spec) || spec.IsZero() != back.IsZero() {
			t.Errorf("Parse(String(Parse(%q))) = %+v, want %+v", tc.in, back, spec)
		}
	}
	if got := (broker.RateLimit{N: 1, Per: 1500 * time.Microsecond}).String(); got != "1/1.5ms" {
		t.Errorf("String of a 1.5ms period = %q, want Go's form of the period", got)
	}
}
