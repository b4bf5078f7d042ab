package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// MaxPeek is the most messages one Peek returns.
const MaxPeek = 1000

// Peek returns up to n ready messages of queue in the order successive pulls
// would lease them if nothing changed meanwhile, without leasing them. It
// reads the ring and the facets in three pipelined round trips and runs no
// script, so it never changes the queue. It is a preview: delayed messages
// and expired leases that a pull would move back first are not shown, and
// rate limits and the global concurrency are not applied (they delay
// pulls rather than reorder them: a pull gives the turn of a facet over
// its rate away), while in-flight limits, a facet's own and strict
// order's included, are. A paused queue shows what it would lease once resumed. A
// peeked message has no lease: pass it to no Ack, Nack, Extend or Release.
// On a partitioned queue the partitions' previews are interleaved, which
// is the order of a rotation in which they weigh the same.
// Its Attempt is the attempt its next delivery would be.
func (b *Broker) Peek(ctx context.Context, queue string, n int) ([]*Message, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxPeek {
		return nil, fmt.Errorf("%w: peek count %d is outside [1, %d]", ErrInvalidArgument, n, MaxPeek)
	}
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil {
		return nil, err
	}
	if p.simple() {
		ms, err := b.peekPartition(ctx, p.Names[0], n)
		return relabel(ms, queue), err
	}
	// Draining partitions are pulled first; the current ones take turns
	// (one message each in turn, as a rotation of equal weights would).
	var out []*Message
	for _, part := range p.Draining {
		ms, err := b.peekPartition(ctx, part, n-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		if len(out) == n {
			return relabel(out, queue), nil
		}
	}
	lists := make([][]*Message, len(p.Names))
	for i, part := range p.Names {
		if lists[i], err = b.peekPartition(ctx, part, n-len(out)); err != nil {
			return nil, err
		}
	}
	for i := 0; len(out) < n; i++ {
		took := false
		for _, l := range lists {
			if i < len(l) && len(out) < n {
				out, took = append(out, l[i]), true
			}
		}
		if !took {
			break
		}
	}
	return relabel(out, queue), nil
}

// relabel sets the queue of messages read from its partitions.
func relabel(ms []*Message, queue string) []*Message {
	for _, m := range ms {
		m.Queue = queue
	}
	return ms
}

// peekPartition is Peek on one partition, or on an unpartitioned queue.
func (b *Broker) peekPartition(ctx context.Context, queue string, n int) ([]*Message, error) {
	ring, full, limits, err := b.peekRing(ctx, queue, n)
	if err != nil {
		return nil, err
	}
	facets, err := b.peekFacets(ctx, queue, ring, n, limits)
	if err != nil {
		return nil, err
	}
	ids := simulatePulls(ring, full, facets, n)
	return b.peekMessages(ctx, queue, ids)
}

// peekLimits is what Peek knows of a queue's in-flight limits.
type peekLimits struct {
	limit   int  // the queue's per facet; 0 is none
	own     bool // some facet has its own
	ordered bool // strict order: every facet's is 1
}

// peekRing reads the first turns of queue's ring (twice n, since a pull may
// skip a stale turn), whether that is the whole ring, and the in-flight
// limits.
func (b *Broker) peekRing(ctx context.Context, queue string, n int) (ring []string, full bool, limits peekLimits, err error) {
	var cfg *redis.SliceCmd
	var turns *redis.StringSliceCmd
	var size *redis.IntCmd
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cfg = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Cfg), keylayout.FieldLimit, keylayout.FieldOwnLimits, keylayout.FieldOrdered)
		turns = p.LRange(ctx, b.keys.queueKey(queue, keylayout.Ring), 0, int64(2*n-1))
		size = p.LLen(ctx, b.keys.queueKey(queue, keylayout.Ring))
		return nil
	})
	if err != nil {
		return nil, false, peekLimits{}, wrapRedis("peek", err)
	}
	if cfg.Val()[0] == nil {
		return nil, false, peekLimits{}, fmt.Errorf("%w %q", ErrUnknownQueue, queue)
	}
	limits = peekLimits{limit: intOr(cfg.Val()[0], 0), own: cfg.Val()[1] != nil, ordered: cfg.Val()[2] != nil}
	return turns.Val(), size.Val() <= int64(len(turns.Val())), limits, nil
}

// peekFacet is what Peek knows of one facet in the ring.
type peekFacet struct {
	ids      []string // its oldest ready message IDs
	ready    int64    // its ready messages
	inflight int
	limit    int // its in-flight limit; 0 is none
	priority int // 0 while paused
	tokens   int // its turns among the ring's turns read
}

// peekFacets reads the oldest n ready IDs, the backlog, the in-flight count,
// the in-flight limit and the priority of every facet in ring, in one round
// trip.
func (b *Broker) peekFacets(ctx context.Context, queue string, ring []string, n int, limits peekLimits) (map[string]*peekFacet, error) {
	facets := make(map[string]*peekFacet)
	var names []string
	for _, f := range ring {
		if facets[f] == nil {
			facets[f] = &peekFacet{}
			names = append(names, f)
		}
		facets[f].tokens++
	}
	if len(names) == 0 {
		return facets, nil
	}
	ids := make([]*redis.StringSliceCmd, len(names))
	lens := make([]*redis.IntCmd, len(names))
	var inflight, prio, own *redis.SliceCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, f := range names {
			ids[i] = p.LRange(ctx, b.keys.facetKey(queue, f), 0, int64(n-1))
			lens[i] = p.LLen(ctx, b.keys.facetKey(queue, f))
		}
		inflight = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Inflight), names...)
		prio = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Prio), names...)
		if limits.own {
			own = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Limits), names...)
		}
		return nil
	})
	if err != nil {
		return nil, wrapRedis("peek", err)
	}
	for i, f := range names {
		pf := facets[f]
		pf.ids, pf.ready = ids[i].Val(), lens[i].Val()
		pf.inflight = intOr(inflight.Val()[i], 0)
		switch {
		case limits.ordered:
			pf.limit = 1
		case own != nil && own.Val()[i] != nil:
			pf.limit = intOr(own.Val()[i], 0)
		default:
			pf.limit = limits.limit
		}
		p, _ := prio.Val()[i].(string)
		pf.priority = intOr(p, 1)
		if strings.HasPrefix(p, "-") {
			pf.priority = 0
		}
	}
	return facets, nil
}

// simulatePulls replays what pull.lua does with the turns of ring, and
// returns the IDs it would lease, in order. A turn goes back to the tail
// only when the whole ring was read; otherwise the turns read already cover
// n pulls.
func simulatePulls(ring []string, full bool, facets map[string]*peekFacet, n int) []string {
	var out []string
	queue := append([]string(nil), ring...)
	for len(out) < n && len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		pf := facets[f]
		if pf.priority <= 0 || (pf.limit > 0 && pf.inflight >= pf.limit) || len(pf.ids) == 0 {
			pf.tokens-- // a stale turn: dropped
			continue
		}
		out = append(out, pf.ids[0])
		pf.ids, pf.ready = pf.ids[1:], pf.ready-1
		back := pf.ready > 0 && (pf.limit == 0 || pf.inflight+1 < pf.limit)
		if back && pf.priority > 1 {
			back = int64(pf.tokens) <= pf.ready
		}
		pf.inflight++
		if back && full {
			queue = append(queue, f)
		} else {
			pf.tokens--
		}
	}
	return out
}

// peekMessages reads the envelopes and attempts of ids, in one round trip.
func (b *Broker) peekMessages(ctx context.Context, queue string, ids []string) ([]*Message, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var envs, atts *redis.SliceCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		envs = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Msgs), ids...)
		atts = p.HMGet(ctx, b.keys.queueKey(queue, keylayout.Msgs), attemptFields(ids)...)
		return nil
	})
	if err != nil {
		return nil, wrapRedis("peek", err)
	}
	out := make([]*Message, 0, len(ids))
	for i, id := range ids {
		raw, ok := envs.Val()[i].(string)
		if !ok {
			continue // acked or purged between the reads
		}
		e, err := decodeEnvelope(raw)
		if err != nil {
			continue
		}
		att := intOr(atts.Val()[i], 0)
		m := &Message{ID: id, Queue: queue, Attempt: att + 1, EnqueuedAt: idTime(id)}
		b.fillFromEnvelope(m, e)
		out = append(out, m)
	}
	return out, nil
}
