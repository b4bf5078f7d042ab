package broker

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RateLimitSyntax describes what ParseRateLimit reads, for error messages
// and help texts.
const RateLimitSyntax = "N/PERIOD[,BURST] (e.g. 10/1s, 600/1m,20) or off"

// String renders r as an operator types it and ParseRateLimit reads it
// back: "10/1s", "1/1m", "100/500ms", "600/1m,20", or "off". The period is
// in the largest unit that divides it (h, m, s, ms), so one minute prints
// "1m", not Go's "1m0s", and 1h30m prints "90m". A burst of 0 or 1 (the
// same limit) is left out.
func (r RateLimit) String() string {
	if r.IsZero() {
		return "off"
	}
	s := strconv.Itoa(r.N) + "/" + formatPeriod(r.Per)
	if r.Burst > 1 {
		s += "," + strconv.Itoa(r.Burst)
	}
	return s
}

// formatPeriod renders d in the largest of h, m, s and ms that divides it;
// a period that is not whole milliseconds (which ParseRateLimit refuses)
// falls back to Go's form.
func formatPeriod(d time.Duration) string {
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

// ParseRateLimit reads a rate limit as String writes it and operators type
// it: N/PERIOD[,BURST] ("10/1s", "5/m,3", "100/500ms"), or "off" (also
// "none" and "0") for no limit. PERIOD is a Go duration in whole
// milliseconds; a unit alone ("s", "m", "h") is one of it. A limit outside
// the bounds SetRateLimit takes is refused here too. Errors wrap
// ErrInvalidArgument.
func ParseRateLimit(s string) (RateLimit, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "off", "none", "0":
		return RateLimit{}, nil
	}
	bad := func(why string) (RateLimit, error) {
		return RateLimit{}, fmt.Errorf("%w: bad rate limit %q: %s; want %s", ErrInvalidArgument, s, why, RateLimitSyntax)
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
	r := RateLimit{N: n, Per: per}
	if hasBurst {
		b, err := strconv.Atoi(strings.TrimSpace(burstS))
		if err != nil || b < 0 {
			return bad("BURST is not a whole number")
		}
		r.Burst = b
	}
	if err := r.validate(); err != nil {
		return RateLimit{}, err
	}
	return r, nil
}
