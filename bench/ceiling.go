package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The ceiling is a bare fair-pull program of our own: a ring of facets
// (a list of the facets that hold messages), one list of messages per
// facet, leases in a sorted set scored by their deadline, batched enqueue,
// a pull of up to n messages taking facets round robin, and a batched ack
// (one ZREM). It has no retries, no limits, no priorities, no
// notifications and no bookkeeping: it shows what a fair queue in Lua can
// reach on this Redis, so that the table can give Fairway's figures as a
// fraction of it.

var (
	//go:embed lua/ceiling_enqueue.lua
	ceilingEnqueueLua    string
	ceilingEnqueueScript = redis.NewScript(ceilingEnqueueLua)
	//go:embed lua/ceiling_pull.lua
	ceilingPullLua    string
	ceilingPullScript = redis.NewScript(ceilingPullLua)
)

// ceilingLease is how long a pulled message is leased.
const ceilingLease = 30 * time.Second

// ceilingQueue is one queue of the ceiling program, all of its keys under
// one hash tag.
type ceilingQueue struct {
	rdb      *redis.Client
	ring     string // the facets that hold messages
	leases   string // leased messages by deadline
	prefix   string // of each facet's list of messages
	producer string // prefix of this producer's message IDs
	seq      atomic.Uint64
}

// ceilingMessage is a message to queue on a facet.
type ceilingMessage struct {
	facet string
	body  []byte
}

// ceilingPulled is a leased message: its facet, and the message as stored
// (ID, a space, body), which is also its member in the leases.
type ceilingPulled struct {
	facet, msg string
}

func newCeiling(e *env, queue string) *ceilingQueue {
	p := "ceil:{" + queue + "}:"
	return &ceilingQueue{
		rdb: e.srv.client(), ring: p + "ring", leases: p + "lease", prefix: p + "f:",
		producer: strconv.FormatUint(rand.Uint64N(36*36*36*36), 36),
	}
}

func (c *ceilingQueue) close() { _ = c.rdb.Close() }

// id is the next message ID: the producer's prefix and a sequence number.
func (c *ceilingQueue) id() string {
	return c.producer + "." + strconv.FormatUint(c.seq.Add(1), 36)
}

// enqueue queues msgs with one script call.
func (c *ceilingQueue) enqueue(ctx context.Context, msgs []ceilingMessage) error {
	args := make([]any, 0, 1+2*len(msgs))
	args = append(args, c.prefix)
	for _, m := range msgs {
		args = append(args, m.facet, c.id()+" "+string(m.body))
	}
	return ceilingEnqueueScript.Run(ctx, c.rdb, []string{c.ring}, args...).Err()
}

// pull leases up to n messages, facets round robin.
func (c *ceilingQueue) pull(ctx context.Context, n int) ([]ceilingPulled, error) {
	v, err := ceilingPullScript.Run(ctx, c.rdb, []string{c.ring, c.leases}, c.prefix, n, ceilingLease.Milliseconds()).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]ceilingPulled, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		out = append(out, ceilingPulled{facet: v[i], msg: v[i+1]})
	}
	return out, nil
}

// ack settles leased messages with one ZREM; it fails if one of them was
// not leased.
func (c *ceilingQueue) ack(ctx context.Context, msgs []string) error {
	members := make([]any, len(msgs))
	for i, m := range msgs {
		members[i] = m
	}
	n, err := c.rdb.ZRem(ctx, c.leases, members...).Result()
	if err != nil {
		return err
	}
	if n != int64(len(msgs)) {
		return fmt.Errorf("ceiling: acked %d messages, %d were leased", len(msgs), n)
	}
	return nil
}

// ready is how many messages wait: the lengths of the lists of the facets
// in the ring.
func (c *ceilingQueue) ready(ctx context.Context) (int64, error) {
	facets, err := c.rdb.LRange(ctx, c.ring, 0, -1).Result()
	if err != nil {
		return 0, err
	}
	pipe := c.rdb.Pipeline()
	lens := make([]*redis.IntCmd, len(facets))
	for i, f := range facets {
		lens[i] = pipe.LLen(ctx, c.prefix+f)
	}
	if len(facets) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, err
		}
	}
	var n int64
	for _, l := range lens {
		n += l.Val()
	}
	return n, nil
}

// unfinished is how many messages are ready or leased.
func (c *ceilingQueue) unfinished(ctx context.Context) (int64, error) {
	ready, err := c.ready(ctx)
	if err != nil {
		return 0, err
	}
	leased, err := c.rdb.ZCard(ctx, c.leases).Result()
	return ready + leased, err
}
