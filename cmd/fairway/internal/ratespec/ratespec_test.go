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
			if back, err := ratespec.Parse(got.Limit.String()); err != nil || back.Limit != got.Limit {
				t.Errorf("Parse(String of %+v) = %+v, %v", got.Limit, back, err)
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
