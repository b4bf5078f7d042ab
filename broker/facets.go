package broker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// SetFacetPriority sets facet's weight in queue's rotation: a facet of
// priority p holds up to p turns in the ring, so it gets p times the share of
// a facet of priority 1 (the default). Priority 0 pauses the facet; raising
// it again resumes it.
func (b *Broker) SetFacetPriority(ctx context.Context, queue, facet string, p int) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if err := validName(ErrInvalidFacet, "facet", facet); err != nil {
		return err
	}
	if p < 0 || p > MaxPriority {
		return fmt.Errorf("%w: priority %d is outside [0, %d]", ErrInvalidArgument, p, MaxPriority)
	}
	return b.queueSetting(ctx, "set priority", queue, scriptPriority, facet, p)
}

// SetMaxAttempts sets queue's default budget: how many deliveries a message
// queued on it from now on gets before it becomes a dead letter, when its
// delivery sets none (WithMaxAttempts). 0 removes the default, so such
// messages get the delivering broker's Config.MaxAttempts. Messages already
// queued keep the budget they were queued with. A partitioned queue holds
// it on every partition.
func (b *Broker) SetMaxAttempts(ctx context.Context, queue string, n int) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	v := ""
	if n != 0 {
		if err := checkMaxAttempts(n); err != nil {
			return err
		}
		v = strconv.Itoa(n)
	}
	return b.queueSetting(ctx, "set max attempts", queue, scriptSettings, "budget", v)
}

// queueSetting runs a script that answers -1 when the queue does not exist.
// On a partitioned queue it runs on every partition, current and draining,
// so that each holds every setting, and it returns nil only once that holds
// whatever SetPartitions did meanwhile: it reads the layout from Redis, not
// the cache (which may be a second old), waits while a change of count is
// under way, and after running on every partition reads the layout again:
// if it changed, it runs again on the new one. (See repartition for why
// that suffices.) The settings are absolute, so running twice is harmless.
func (b *Broker) queueSetting(ctx context.Context, op, queue string, s *redis.Script, args ...any) error {
	deadline := time.Now().Add(changeTTL + time.Second) // a local duration only
	pause := time.Millisecond
	for {
		st, err := b.layoutState(ctx, queue)
		if err != nil {
			return err
		}
		if !st.changing {
			if err := b.settingOn(ctx, op, queue, st, s, args); err != nil {
				return err
			}
			after, err := b.layoutState(ctx, queue)
			if err != nil || after == st {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s: the partitions of %q kept changing for %v; try again", ErrConflict, op, queue, changeTTL)
		}
		if st.changing {
			pause = min(2*pause, 50*time.Millisecond)
			if err := sleepCtx(ctx, pause); err != nil {
				return err
			}
		}
	}
}

// settingOn runs a setting script on every partition of the layout st.
func (b *Broker) settingOn(ctx context.Context, op, queue string, st layoutState, s *redis.Script, args []any) error {
	p, err := st.partitioning(op, queue)
	if err != nil {
		return err
	}
	for _, part := range p.all() {
		code, err := b.runQueue(ctx, s, part, args...).Int64()
		if err != nil {
			return wrapRedis(op, err)
		}
		if code < 0 && !slices.Contains(p.Draining, part) { // a draining one may be gone
			return fmt.Errorf("%w %q", ErrUnknownQueue, queue)
		}
	}
	return nil
}

// partitioning is queue's partitioning as st holds it.
func (st layoutState) partitioning(op, queue string) (Partitioning, error) {
	var l layout
	if st.layout != "" {
		var ok bool
		if l, ok = parseLayout(st.layout); !ok {
			return Partitioning{}, fmt.Errorf("broker: %s: unreadable partitioning %q of %q", op, st.layout, queue)
		}
	}
	return l.partitioning(queue), nil
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FacetStats describes one facet of a queue.
type FacetStats struct {
	Facet    string
	Ready    int64 // messages waiting for a turn
	InFlight int64 // messages leased
	Priority int   // weight in the rotation; 0 takes no turns
	Paused   bool  // paused by PauseFacet; Priority applies again on resume
	// RateLimit is the rate limit that applies to the facet: its own, or
	// else the queue's default. Zero is none.
	RateLimit RateLimit
	// OwnRateLimit tells whether RateLimit is the facet's own
	// (SetFacetRateLimit) rather than the queue's default.
	OwnRateLimit bool
	// RateLimitedUntil is, while the facet's rate limit holds back its
	// turn, when it frees up (Redis's clock); zero otherwise.
	RateLimitedUntil time.Time
	// InflightLimit is the most messages of the facet leased at once: its
	// own limit, else the queue's; 1 under strict order; 0 is none.
	InflightLimit int
	// OwnInflightLimit tells whether InflightLimit is the facet's own
	// (SetFacetInflightLimit); under strict order it is not.
	OwnInflightLimit bool
	// BacklogLimit is the most ready messages the facet may hold: its own
	// cap, else the queue's (SetBacklogLimit); 0 is none.
	BacklogLimit int
	// OwnBacklogLimit tells whether BacklogLimit is the facet's own
	// (SetFacetBacklogLimit).
	OwnBacklogLimit bool
}

// Facet returns the state of one facet of queue.
func (b *Broker) Facet(ctx context.Context, queue, facet string) (FacetStats, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return FacetStats{}, err
	}
	if err := validName(ErrInvalidFacet, "facet", facet); err != nil {
		return FacetStats{}, err
	}
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil {
		return FacetStats{}, err
	}
	// The facet's partition first: its settings are read from there.
	parts := []string{p.Names[partitionOf(facet, p.Count)]}
	parts = append(parts, p.Draining...)
	fs, err := b.facetDetailsIn(ctx, parts, []string{facet})
	if err != nil {
		return FacetStats{}, err
	}
	return fs[0], nil
}

// facetDetailsIn is facetDetails summed over partitions: the first gives
// the settings, and every one adds its ready and leased messages.
func (b *Broker) facetDetailsIn(ctx context.Context, parts []string, facets []string) ([]FacetStats, error) {
	out, err := b.facetDetails(ctx, parts[0], facets)
	if err != nil {
		return nil, err
	}
	for _, part := range parts[1:] {
		more, err := b.facetDetails(ctx, part, facets)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].Ready += more[i].Ready
			out[i].InFlight += more[i].InFlight
		}
	}
	return out, nil
}

// TopFacets returns up to n facets of queue with the most ready messages,
// largest backlog first (ties by name). Facets with DeepBacklog (64) ready
// messages or more are ranked from the deep zset, which pulls keep without
// a write per message; the smaller ones are read from the set of active
// facets, all of them up to topFacetsScan of them and a sample beyond. So
// the answer is exact for a queue with at most topFacetsScan active
// facets, and always finds the facets that hold large backlogs.
func (b *Broker) TopFacets(ctx context.Context, queue string, n int) ([]FacetStats, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: count %d is below 1", ErrInvalidArgument, n)
	}
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil {
		return nil, err
	}
	// Each partition's candidates, summed per facet (a facet can be in a
	// draining partition and a current one), then the top n of those.
	var out []FacetStats
	at := make(map[string]int)
	for _, part := range p.all() {
		names, err := b.topCandidates(ctx, part, n)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			continue
		}
		fs, err := b.facetDetails(ctx, part, names)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if i, ok := at[f.Facet]; ok {
				out[i].Ready += f.Ready
				out[i].InFlight += f.InFlight
				continue
			}
			at[f.Facet] = len(out)
			out = append(out, f)
		}
	}
	out = slices.DeleteFunc(out, func(f FacetStats) bool { return f.Ready == 0 })
	slices.SortFunc(out, func(a, b FacetStats) int {
		return cmp.Or(cmp.Compare(b.Ready, a.Ready), cmp.Compare(a.Facet, b.Facet))
	})
	return out[:min(n, len(out))], nil
}

// topFacetsScan is how many active facets TopFacets reads when fewer than
// it asks for have deep backlogs.
const topFacetsScan = 1000

// topCandidates names the facets of one partition (or unpartitioned queue)
// among which its top n by backlog are: the deep facets down to the
// multiple of DeepBacklog that holds the n-th (the scores are exact to that
// multiple), and when those are fewer than n, active facets besides.
func (b *Broker) topCandidates(ctx context.Context, queue string, n int) ([]string, error) {
	// The top n by score and the facets after them, as many as can share
	// the n-th's multiple of DeepBacklog (bounded), in one read.
	top, err := b.rdb.ZRevRangeWithScores(ctx, b.keys.queueKey(queue, keylayout.Deep), 0, int64(5*n+keylayout.DeepBacklog-1)).Result()
	if err != nil {
		return nil, wrapRedis("top facets", err)
	}
	if len(top) >= n {
		floor := float64(int64(top[n-1].Score) / keylayout.DeepBacklog * keylayout.DeepBacklog)
		names := make([]string, 0, len(top))
		for _, z := range top {
			if z.Score < floor {
				break
			}
			f, _ := z.Member.(string)
			names = append(names, f)
		}
		return names, nil
	}
	seen := make(map[string]bool, len(top))
	names := make([]string, 0, len(top))
	for _, z := range top {
		f, _ := z.Member.(string)
		seen[f] = true
		names = append(names, f)
	}
	active := b.keys.queueKey(queue, keylayout.Active)
	var cursor uint64
	for scanned := 0; scanned < topFacetsScan; {
		batch, next, err := b.rdb.SScan(ctx, active, cursor, "", topFacetsScan).Result()
		if err != nil {
			return nil, wrapRedis("top facets", err)
		}
		for _, f := range batch {
			if !seen[f] {
				seen[f] = true
				names = append(names, f)
			}
		}
		scanned += len(batch)
		if cursor = next; cursor == 0 {
			break
		}
	}
	return names, nil
}

func (b *Broker) facetDetails(ctx context.Context, queue string, facets []string) ([]FacetStats, error) {
	var ready []*redis.IntCmd
	var prio, rates, rate, limits, backlogs *redis.SliceCmd
	var leases *redis.StringSliceCmd
	var parked *redis.FloatSliceCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, f := range facets {
			ready = append(ready, p.LLen(ctx, b.keys.facetKey(queue, f)))
		}
		// Facets' in-flight counts are kept only under an in-flight limit,
		// so they are counted from the leases: O(messages in flight), on
		// this operator's path rather than on every pull and ack.
		leases = p.ZRange(ctx, b.keys.queueKey(queue, keylayout.Leased), 0, -1)
		prio = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Prio), facets...)
		rates = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Rates), facets...)
		rate = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Cfg), keylayout.FieldRate, keylayout.FieldLimit, keylayout.FieldOrdered, keylayout.FieldAdmit)
		limits = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Limits), facets...)
		backlogs = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Backlogs), facets...)
		parked = p.ZMScore(ctx, b.keys.queueKey(queue, keylayout.Parked), facets...)
		return nil
	})
	if err != nil {
		return nil, wrapRedis("facet stats", err)
	}
	inflight := leasesByFacet(leases.Val())
	admit, _ := rate.Val()[3].(string)
	backlogCap := parseAdmission(admit).facet
	out := make([]FacetStats, len(facets))
	for i, f := range facets {
		p, _ := prio.Val()[i].(string)
		paused := strings.HasPrefix(p, "-")
		out[i] = FacetStats{
			Facet:    f,
			Ready:    ready[i].Val(),
			InFlight: inflight[f],
			Priority: intOr(strings.TrimPrefix(p, "-"), 1),
			Paused:   paused,
		}
		if own, ok := rates.Val()[i].(string); ok {
			out[i].RateLimit, out[i].OwnRateLimit = parseRateLimit(own), true
		} else {
			def, _ := rate.Val()[0].(string)
			out[i].RateLimit = parseRateLimit(def)
		}
		if at := parked.Val()[i]; at > 0 {
			out[i].RateLimitedUntil = time.UnixMilli(int64(at))
		}
		switch own, ok := limits.Val()[i].(string); {
		case rate.Val()[2] != nil:
			out[i].InflightLimit = 1
		case ok:
			out[i].InflightLimit, out[i].OwnInflightLimit = intOr(own, 0), true
		default:
			out[i].InflightLimit = intOr(rate.Val()[1], 0)
		}
		if own, ok := backlogs.Val()[i].(string); ok {
			out[i].BacklogLimit, out[i].OwnBacklogLimit = intOr(own, 0), true
		} else {
			out[i].BacklogLimit = backlogCap
		}
	}
	return out, nil
}

// intOr parses an HMGET value, or returns def for a missing field.
func intOr(v any, def int) int {
	s, ok := v.(string)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
