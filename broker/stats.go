package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// QueueStats counts a queue's messages by state, and its active facets.
type QueueStats struct {
	Ready    int64 // waiting in their facets
	InFlight int64 // leased
	Delayed  int64 // waiting for a delay or a retry
	Dead     int64 // dead letters
	Facets   int64 // facets with ready messages
	// InflightLimit is the most messages in flight per facet; 0 is none.
	InflightLimit int64
	// Routed tells whether the queue is registered, so that deliveries reach
	// it.
	Routed bool
	// Paused tells whether PauseQueue stopped the queue from leasing.
	Paused bool
	// RateLimit is the queue's default rate limit per facet (SetRateLimit);
	// zero is none.
	RateLimit RateLimit
	// RateLimited counts the facets waiting for their rate limit to let
	// them be pulled again.
	RateLimited int64
	// MaxAttempts is the queue's default budget of deliveries
	// (SetMaxAttempts); 0 is none, so a delivery that sets no budget gets
	// its broker's Config.MaxAttempts.
	MaxAttempts int64
	// StrictOrder tells whether the queue hands out each facet's messages
	// one at a time, in order (SetStrictOrder).
	StrictOrder bool
	// OwnInflightLimits counts the facets with an in-flight limit of their
	// own (SetFacetInflightLimit).
	OwnInflightLimits int64
	// GlobalConcurrency is the most messages of the queue leased at once
	// over every worker (SetGlobalConcurrency); 0 is none.
	GlobalConcurrency int64
	// QueueRateLimit is the rate limit of the whole queue, all facets
	// together (SetQueueRateLimit); zero is none.
	QueueRateLimit RateLimit
	// MessageTTL is the queue's default time to live (SetMessageTTL); 0 is
	// none, so a delivery that sets no TTL never expires.
	MessageTTL time.Duration
	// ExpiryPolicy says what becomes of a message whose deadline passed
	// before it started (SetExpiryPolicy).
	ExpiryPolicy ExpiryPolicy
	// Expired counts the messages that reached their turn after their
	// deadline since the queue was created: dead-lettered (reason
	// "expired") or dropped, as ExpiryPolicy said then. Each partition
	// counts its own, so a partition dropped after SetPartitions takes its
	// count with it.
	Expired int64
	// BacklogLimit is the most ready messages a facet without a cap of its
	// own may hold (SetBacklogLimit); 0 is none.
	BacklogLimit int64
	// OwnBacklogLimits counts the facets with a backlog cap of their own
	// (SetFacetBacklogLimit).
	OwnBacklogLimits int64
	// QueueBacklogLimit is the most messages the queue holds, ready,
	// delayed and leased (SetQueueBacklogLimit); 0 is none.
	QueueBacklogLimit int64
	// BacklogPolicy says what a delivery past a facet's backlog cap does
	// (SetBacklogPolicy).
	BacklogPolicy BacklogPolicy
	// Dropped counts the ready messages dead-lettered to make room for
	// newer ones of their facet (BacklogDropOldest) since the queue was
	// created; each partition counts its own, as with Expired.
	Dropped int64
}

// Stats returns queue's counts, read in one round trip (one per partition),
// each O(1). A partitioned queue's counts are summed over its partitions
// (while partitions drain, a facet with messages in two counts twice).
func (b *Broker) Stats(ctx context.Context, queue string) (QueueStats, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return QueueStats{}, err
	}
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil {
		return QueueStats{}, err
	}
	// Settings come from the first current partition.
	s, err := b.statsOf(ctx, p.Names[0])
	if err != nil {
		return QueueStats{}, err
	}
	for _, part := range append(slices.Clone(p.Names[1:]), p.Draining...) {
		more, err := b.statsOf(ctx, part)
		if errors.Is(err, ErrUnknownQueue) && slices.Contains(p.Draining, part) {
			continue // dropped once empty
		}
		if err != nil {
			return QueueStats{}, err
		}
		s.Ready += more.Ready
		s.InFlight += more.InFlight
		s.Delayed += more.Delayed
		s.Dead += more.Dead
		s.Facets += more.Facets
		s.RateLimited += more.RateLimited
		s.Expired += more.Expired
		s.Dropped += more.Dropped
	}
	return s, nil
}

// statsOf reads the counts of one partition (or unpartitioned queue).
func (b *Broker) statsOf(ctx context.Context, queue string) (QueueStats, error) {
	k := func(kind string) string { return b.keys.queueKey(queue, kind) }
	var cfg *redis.SliceCmd
	var msgs, leased, delayed, dead, facets, parked, ownLimits, ownBacklogs *redis.IntCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cfg = p.HMGet(ctx, k(keylayout.Cfg), keylayout.FieldPattern, keylayout.FieldLimit, keylayout.FieldPaused, keylayout.FieldRate, keylayout.FieldAttempts, keylayout.FieldRetried,
			keylayout.FieldOrdered, keylayout.FieldCap, keylayout.FieldQueueRate,
			keylayout.FieldTTL, keylayout.FieldExpiry, keylayout.FieldExpired, keylayout.FieldAdmit, keylayout.FieldDropped)
		ownLimits = p.HLen(ctx, k(keylayout.Limits))
		ownBacklogs = p.HLen(ctx, k(keylayout.Backlogs))
		msgs = p.HLen(ctx, k(keylayout.Msgs))
		leased = p.ZCard(ctx, k(keylayout.Leased))
		delayed = p.ZCard(ctx, k(keylayout.Delayed))
		dead = p.ZCard(ctx, k(keylayout.Dead))
		facets = p.SCard(ctx, k(keylayout.Active))
		parked = p.ZCard(ctx, k(keylayout.Parked))
		return nil
	})
	if err != nil {
		return QueueStats{}, wrapRedis("stats", err)
	}
	limit, ok := cfg.Val()[1].(string)
	if !ok {
		return QueueStats{}, fmt.Errorf("%w %q", ErrUnknownQueue, queue)
	}
	s := QueueStats{
		InFlight: leased.Val(),
		Delayed:  delayed.Val(),
		Dead:     dead.Val(),
		Facets:   facets.Val(),
		Routed:   cfg.Val()[0] != nil,
		Paused:   cfg.Val()[2] != nil,

		RateLimited: parked.Val(),

		StrictOrder:       cfg.Val()[6] != nil,
		OwnInflightLimits: ownLimits.Val(),
		OwnBacklogLimits:  ownBacklogs.Val(),
	}
	admit, _ := cfg.Val()[12].(string)
	a := parseAdmission(admit)
	s.BacklogLimit, s.QueueBacklogLimit, s.BacklogPolicy = int64(a.facet), int64(a.queue), a.policy
	dropped, _ := cfg.Val()[13].(string)
	s.Dropped, _ = strconv.ParseInt(dropped, 10, 64)
	if c, ok := cfg.Val()[7].(string); ok {
		s.GlobalConcurrency, _ = strconv.ParseInt(c, 10, 64)
	}
	if rate, ok := cfg.Val()[8].(string); ok {
		s.QueueRateLimit = parseRateLimit(rate)
	}
	if rate, ok := cfg.Val()[3].(string); ok {
		s.RateLimit = parseRateLimit(rate)
	}
	s.InflightLimit, _ = strconv.ParseInt(limit, 10, 64)
	if att, ok := cfg.Val()[4].(string); ok {
		s.MaxAttempts, _ = strconv.ParseInt(att, 10, 64)
	}
	if ttl, ok := cfg.Val()[9].(string); ok {
		n, _ := strconv.ParseInt(ttl, 10, 64)
		s.MessageTTL = time.Duration(n) * time.Millisecond
	}
	if cfg.Val()[10] == "drop" {
		s.ExpiryPolicy = ExpireDrop
	}
	expired, _ := cfg.Val()[11].(string)
	s.Expired, _ = strconv.ParseInt(expired, 10, 64)
	// msgs holds one envelope per message and the attempts of those that
	// have had any and are not leased (cfg.retried counts them); every
	// message is in exactly one state, so the ready ones are the rest.
	retried, _ := cfg.Val()[5].(string)
	extra, _ := strconv.ParseInt(retried, 10, 64)
	s.Ready = msgs.Val() - extra - s.InFlight - s.Delayed - s.Dead
	return s, nil
}
