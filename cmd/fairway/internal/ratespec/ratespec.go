// Package ratespec parses the rate limits that operators type into the
// fairway CLI and dashboard: "N/PERIOD[,BURST]", "off" or "default".
package ratespec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// Syntax describes what Parse accepts, for error messages.
const Syntax = "N/PERIOD[,BURST] (e.g. 10/1s, 600/1m,20), off or default"

// Spec is a parsed rate limit.
type Spec struct {
	Limit broker.RateLimit // zero for "off" and "default"
	// Default is "default": drop a facet's own limit so that the queue's
	// default applies.
	Default bool
}

// Parse reads N/PERIOD[,BURST] ("10/1s", "5/m,3", "100/500ms"), "off"
// (also "none" and "0") or "default". PERIOD is a Go duration in whole
// milliseconds; a unit alone ("s", "m", "h") is one of it. The broker checks
// the bounds (N, PERIOD, BURST <= N).
func Parse(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "off", "none", "0":
		return Spec{}, nil
	case "default":
		return Spec{Default: true}, nil
	}
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("bad rate limit %q: %s; want %s", s, why, Syntax)
	}
	rest, burstS, hasBurst := strings.Cut(s, ",")
	nS, perS, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no /")
	}
	n, err := strconv.Atoi(strings.TrimSpace(nS))
	if err != nil || n < 1 {
		return bad("N is not a whole number above 0")
	}
	perS = strings.TrimSpace(perS)
	if perS != "" && !strings.ContainsAny(perS[:1], "0123456789.") {
		perS = "1" + perS // "5/s" is 5/1s
	}
	per, err := time.ParseDuration(perS)
	if err != nil || per <= 0 {
		return bad("PERIOD is not a positive Go duration such as 1s, 500ms or 1m")
	}
	if per%time.Millisecond != 0 {
		return bad("PERIOD must be whole milliseconds")
	}
	r := broker.RateLimit{N: n, Per: per}
	if hasBurst {
		b, err := strconv.Atoi(strings.TrimSpace(burstS))
		if err != nil || b < 0 {
			return bad("BURST is not a whole number")
		}
		r.Burst = b
	}
	return Spec{Limit: r}, nil
}

// Format renders r as an operator types it and Parse reads it back:
// "10/1s", "1/1m", "100/500ms", "600/1m,20", or "off". The period is in the
// largest unit that divides it (h, m, s, ms), so "1/1m" prints as "1/1m",
// not Go's "1/1m0s"; "1h30m" prints as "90m". A burst of 0 or 1 (the same
// to the broker) is left out.
func Format(r broker.RateLimit) string {
	if r.IsZero() {
		return "off"
	}
	s := strconv.Itoa(r.N) + "/" + FormatPeriod(r.Per)
	if r.Burst > 1 {
		s += "," + strconv.Itoa(r.Burst)
	}
	return s
}

// FormatPeriod renders d in the largest of h, m, s and ms that divides it
// ("1m", "90s", "500ms"), as Parse reads a PERIOD; a period that is not
// whole milliseconds (which Parse refuses) falls back to Go's form.
func FormatPeriod(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return d.String()
}
