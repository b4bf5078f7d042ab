package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/internal/keylayout"
)

// Bounds of a RateLimit.
const (
	// MaxRateLimitN is the most messages a RateLimit may allow per period.
	MaxRateLimitN = 1_000_000_000
	// MaxRateLimitPer is the longest period of a RateLimit.
	MaxRateLimitPer = 366 * 24 * time.Hour
)

// RateLimit caps how fast the messages of one facet are pulled: at most N
// per period Per, on Redis's clock. Messages are spaced evenly (one every
// Per/N) unless Burst allows more at once after an idle spell. The zero
// RateLimit is no limit.
//
// The limit is a GCRA (generic cell rate algorithm): with Burst 0 or 1, no
// window of length Per holds more than N pulls; with Burst b, up to b may
// go at once and a window of length Per holds at most N+b-1, while the
// long-run rate stays N per Per. A limit of more than one message a
// millisecond lets the messages of one millisecond go at once whatever
// Burst says (a pull takes its turns at one instant, so one at a time
// would hold it to the rate of pulls): a window then holds at most N plus
// one millisecond's worth. The limit is measured on Redis's clock to the
// microsecond.
type RateLimit struct {
	N     int           // messages per period; 0 is no limit
	Per   time.Duration // the period, at millisecond resolution
	Burst int           // the most pulled at once; 0 means 1
}

// IsZero reports whether r is no limit.
func (r RateLimit) IsZero() bool { return r == RateLimit{} }

func (r RateLimit) validate() error {
	switch {
	case r.IsZero():
		return nil
	case r.N < 1 || r.N > MaxRateLimitN:
		return fmt.Errorf("%w: rate limit count %d is outside [1, %d]", ErrInvalidArgument, r.N, MaxRateLimitN)
	case r.Per < time.Millisecond || r.Per > MaxRateLimitPer:
		return fmt.Errorf("%w: rate limit period %v is outside [1ms, %v]", ErrInvalidArgument, r.Per, MaxRateLimitPer)
	case r.Burst < 0 || r.Burst > r.N:
		return fmt.Errorf("%w: rate limit burst %d is outside [0, %d]", ErrInvalidArgument, r.Burst, r.N)
	}
	return nil
}

// spec is r as the scripts store it: "<n>:<period ms>:<burst>", or "0".
func (r RateLimit) spec() string {
	if r.IsZero() {
		return "0"
	}
	return fmt.Sprintf("%d:%d:%d", r.N, r.Per.Milliseconds(), max(r.Burst, 1))
}

// parseRateLimit reads a stored spec; anything unreadable is no limit.
func parseRateLimit(s string) RateLimit {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return RateLimit{}
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return RateLimit{}
		}
		v[i] = n
	}
	r := RateLimit{N: v[0], Per: time.Duration(v[1]) * time.Millisecond, Burst: v[2]}
	if r.Burst == 1 {
		r.Burst = 0
	}
	return r
}

// SetRateLimit sets the rate limit of every facet of queue that has no
// limit of its own (see SetFacetRateLimit); the zero RateLimit removes it.
// A facet over its limit gives its turn to the next facet, and gets it back
// when the limit lets it be pulled again. Every facet starts afresh under
// the new limit, as if it had been idle: facets held back by the old one
// get their turns back at once.
func (b *Broker) SetRateLimit(ctx context.Context, queue string, r RateLimit) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if err := r.validate(); err != nil {
		return err
	}
	return b.queueSetting(ctx, "set rate limit", queue, scriptRateLimit, "", r.spec())
}

// SetFacetRateLimit gives facet of queue its own rate limit, which
// overrides the queue's default; the zero RateLimit exempts the facet from
// the default. ClearFacetRateLimit undoes it. The facet starts afresh under
// the new limit, as if it had been idle.
func (b *Broker) SetFacetRateLimit(ctx context.Context, queue, facet string, r RateLimit) error {
	if err := b.checkFacetArgs(ctx, queue, facet); err != nil {
		return err
	}
	if err := r.validate(); err != nil {
		return err
	}
	return b.queueSetting(ctx, "set facet rate limit", queue, scriptRateLimit, facet, r.spec())
}

// ClearFacetRateLimit removes facet's own rate limit, so that the queue's
// default (if any) applies to it again.
func (b *Broker) ClearFacetRateLimit(ctx context.Context, queue, facet string) error {
	if err := b.checkFacetArgs(ctx, queue, facet); err != nil {
		return err
	}
	return b.queueSetting(ctx, "clear facet rate limit", queue, scriptRateLimit, facet, "")
}

// FacetRateLimits returns the facets of queue that have a rate limit of
// their own (SetFacetRateLimit), with it; a zero RateLimit exempts its facet
// from the queue's default. It costs O(such facets).
func (b *Broker) FacetRateLimits(ctx context.Context, queue string) (map[string]RateLimit, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return nil, err
	}
	// Every partition holds the same settings.
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil {
		return nil, err
	}
	all, err := b.rdb.HGetAll(ctx, b.keys.queueKey(p.Names[0], keylayout.Rates)).Result()
	if err != nil {
		return nil, wrapRedis("facet rate limits", err)
	}
	out := make(map[string]RateLimit, len(all))
	for f, s := range all {
		out[f] = parseRateLimit(s)
	}
	return out, nil
}

func (b *Broker) checkFacetArgs(ctx context.Context, queue, facet string) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	return validName(ErrInvalidFacet, "facet", facet)
}
