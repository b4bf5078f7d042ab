package broker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/fairwayhq/fairway/internal/keylayout"
)

// MaxLimit bounds the in-flight limits and the global concurrency cap.
const MaxLimit = 1_000_000_000

// SetInflightLimit sets the most messages of one facet of queue that may be
// leased at once, for every facet without a limit of its own
// (SetFacetInflightLimit); a facet at its limit gets no turn until one of
// them is acked, nacked or expires. 0 means no limit. Raising the limit
// gives facets held back by the old one their turn at once.
func (b *Broker) SetInflightLimit(ctx context.Context, queue string, n int) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if err := checkLimit("in-flight limit", n); err != nil {
		return err
	}
	return b.queueSetting(ctx, "set in-flight limit", queue, scriptLimit, "default", n)
}

// SetFacetInflightLimit gives facet of queue its own in-flight limit, which
// overrides the queue's (SetInflightLimit): a tenant that needs more
// parallelism, or less, than the others. 0 exempts the facet from the
// queue's limit. ClearFacetInflightLimit undoes it.
func (b *Broker) SetFacetInflightLimit(ctx context.Context, queue, facet string, n int) error {
	if err := b.checkFacetArgs(ctx, queue, facet); err != nil {
		return err
	}
	if err := checkLimit("in-flight limit", n); err != nil {
		return err
	}
	return b.queueSetting(ctx, "set facet in-flight limit", queue, scriptLimit, "facet", facet, n)
}

// ClearFacetInflightLimit removes facet's own in-flight limit, so that the
// queue's (if any) applies to it again.
func (b *Broker) ClearFacetInflightLimit(ctx context.Context, queue, facet string) error {
	if err := b.checkFacetArgs(ctx, queue, facet); err != nil {
		return err
	}
	return b.queueSetting(ctx, "clear facet in-flight limit", queue, scriptLimit, "facet", facet, "")
}

// FacetInflightLimits returns the facets of queue that have an in-flight
// limit of their own (SetFacetInflightLimit), with it; 0 exempts its facet
// from the queue's limit. It costs O(such facets).
func (b *Broker) FacetInflightLimits(ctx context.Context, queue string) (map[string]int, error) {
	return b.facetsOwn(ctx, "facet in-flight limits", queue, keylayout.Limits)
}

// facetsOwn reads the hash kind of queue's facets' own settings (one
// number each), as op: every partition holds the same settings.
func (b *Broker) facetsOwn(ctx context.Context, op, queue, kind string) (map[string]int, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return nil, err
	}
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil {
		return nil, err
	}
	all, err := b.rdb.HGetAll(ctx, b.keys.queueKey(p.Names[0], kind)).Result()
	if err != nil {
		return nil, wrapRedis(op, err)
	}
	out := make(map[string]int, len(all))
	for f, s := range all {
		out[f], _ = strconv.Atoi(s)
	}
	return out, nil
}

// SetStrictOrder makes queue hand out each facet's messages one at a time,
// in the order they were queued, even across retries and crashes: a
// facet's next message is not leased while an earlier one is leased or
// waiting for its retry, and a retry runs before the facet's later
// messages. It overrides every in-flight limit with 1 (which returns when
// it is turned off). Messages delivered with a delay join their facet's
// order when they are due. A dead-lettered message lets the next one run.
func (b *Broker) SetStrictOrder(ctx context.Context, queue string, on bool) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	v := ""
	if on {
		v = "1"
	}
	return b.queueSetting(ctx, "set strict order", queue, scriptLimit, "ordered", v)
}

// SetGlobalConcurrency caps how many messages of queue are leased at once
// over every worker process: at most n handlers of the queue run anywhere,
// which protects what they call (a database, an API with a quota). It is
// checked in the pull script against the queue's leases, on Redis's clock,
// so it is crash-safe: a killed worker's slots return when its leases end.
// Acks that bring the queue below the cap wake idle workers. 0 removes the
// cap. A partitioned queue gives each partition its share (as the
// dead-letter cap), so n must be at least its partition count; while
// partitions drain after SetPartitions, the old partitions and the new
// each hold their share, so up to twice n may be leased.
func (b *Broker) SetGlobalConcurrency(ctx context.Context, queue string, n int) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if err := checkLimit("global concurrency", n); err != nil {
		return err
	}
	if n > 0 {
		p, err := b.partitions(ctx, queue, 0)
		if err != nil {
			return err
		}
		if n < p.Count {
			return fmt.Errorf("%w: global concurrency %d is below the %d partitions of %q (each partition needs a share of at least 1)", ErrInvalidArgument, n, p.Count, queue)
		}
	}
	v := ""
	if n > 0 {
		v = strconv.Itoa(n)
	}
	return b.queueSetting(ctx, "set global concurrency", queue, scriptSettings, "cap", v)
}

// SetQueueRateLimit caps how fast messages of queue are pulled, all facets
// together, on top of each facet's own rate limit (SetRateLimit,
// SetFacetRateLimit): a facet held back by its own limit spends none of
// the queue's, and while the queue's is spent the ring keeps its order, so
// the facets that have work share the queue's budget in turn. The zero
// RateLimit removes it. A partitioned queue gives each of its k partitions
// 1/k of the rate and of the burst (at least 1), so a window of Per may
// hold up to k more than N.
func (b *Broker) SetQueueRateLimit(ctx context.Context, queue string, r RateLimit) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if err := r.validate(); err != nil {
		return err
	}
	return b.queueSetting(ctx, "set queue rate limit", queue, scriptRateLimit, "", r.spec(), "1")
}

func checkLimit(what string, n int) error {
	if n < 0 || n > MaxLimit {
		return fmt.Errorf("%w: %s %d is outside [0, %d]", ErrInvalidArgument, what, n, MaxLimit)
	}
	return nil
}
