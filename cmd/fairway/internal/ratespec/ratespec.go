// Package ratespec parses the rate limits that operators type into the
// fairway CLI and dashboard: what broker.ParseRateLimit reads
// ("N/PERIOD[,BURST]", "off"), or "default", which drops a facet's own
// limit. broker.RateLimit's String prints them back as typed.
package ratespec

import (
	"strings"

	"github.com/fairwayhq/fairway/broker"
)

// Syntax describes what Parse accepts, for error messages.
const Syntax = broker.RateLimitSyntax + ", or default"

// Spec is a parsed rate limit.
type Spec struct {
	Limit broker.RateLimit // zero for "off" and "default"
	// Default is "default": drop a facet's own limit so that the queue's
	// default applies.
	Default bool
}

// Parse reads what broker.ParseRateLimit reads, or "default".
func Parse(s string) (Spec, error) {
	if strings.EqualFold(strings.TrimSpace(s), "default") {
		return Spec{Default: true}, nil
	}
	r, err := broker.ParseRateLimit(s)
	if err != nil {
		return Spec{}, err
	}
	return Spec{Limit: r}, nil
}
