package broker

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// pullPartitioned leases up to n messages of a partitioned queue: first from
// partitions that drain after a change of count, so that each facet's older
// messages go before its newer ones, then from the current partitions in the
// order of the spread. A partition that fails (its Redis node is down)
// does not stop the others: its error is returned only when nothing was
// leased.
func (b *Broker) pullPartitioned(ctx context.Context, queue string, p Partitioning, n int, lease time.Duration) (PullResult, error) {
	var r PullResult
	var errs []error
	for _, part := range p.Draining {
		if b.drainedRecently(part) {
			continue
		}
		st, err := b.pullPartition(ctx, queue, part, n, lease, &r)
		switch {
		case errors.Is(err, ErrUnknownQueue):
			b.reg.invalidate() // another process dropped it
		case err != nil:
			errs = append(errs, err)
		case st.turns == 0 && len(r.Messages) < n:
			b.foundDrained(ctx, queue, part)
		}
		if len(r.Messages) == n {
			return r.done(n), nil
		}
	}
	// The current partitions are asked for their shares all at once, in
	// one pipeline (on a cluster, go-redis sends each node its part in
	// parallel); then, if some ran dry, the others for the rest, in turn.
	spread := b.spreadOf(queue)
	order, shares := spread.split(p.Names, n-len(r.Messages))
	dry, err := b.pullShares(ctx, queue, order, shares, lease, &r)
	if err != nil {
		errs = append(errs, err)
	}
	for _, part := range order {
		if len(r.Messages) == n {
			break
		}
		if dry[part] {
			continue
		}
		st, err := b.pullPartition(ctx, queue, part, n, lease, &r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.afterPull(spread, part, st)
	}
	if len(r.Messages) == 0 && len(errs) > 0 {
		return PullResult{}, errors.Join(errs...)
	}
	return r.done(n), nil
}

// pullShares asks each partition in order for its share in one pipeline,
// and reports those that ran dry (leased less than their share, with no
// more turns to skip) or failed.
func (b *Broker) pullShares(ctx context.Context, queue string, order []string, shares []int, lease time.Duration, r *PullResult) (map[string]bool, error) {
	dry := make(map[string]bool, len(order))
	var calls []*scriptCall
	var asked []int
	for i, part := range order {
		if shares[i] > 0 {
			calls = append(calls, b.queueCall(scriptPull, part, b.pullArgs(shares[i], lease)...))
			asked = append(asked, i)
		}
	}
	ctx, cancel := b.bounded(ctx) // pull calls carry replay markers (replay.go)
	defer cancel()
	if len(calls) == 1 { // one partition asked: no pipeline needed
		c := calls[0]
		c.cmd = c.script.Run(ctx, b.rdb, c.keys, c.args...)
	} else {
		_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range calls {
				c.queue(ctx, p)
			}
			return nil
		})
		if err := rerunLost(ctx, b.rdb, calls); err != nil {
			return dry, wrapRedis("pull", err)
		}
	}
	spread := b.spreadOf(queue)
	var errs []error
	for j, c := range calls {
		part := order[asked[j]]
		res, err := c.cmd.Slice()
		if err != nil {
			dry[part] = true
			errs = append(errs, wrapRedis("pull", err))
			continue
		}
		before := len(r.Messages)
		st, err := b.absorbPull(ctx, queue, part, res, lease, r)
		if err != nil {
			dry[part] = true
			errs = append(errs, err)
			continue
		}
		b.afterPull(spread, part, st)
		dry[part] = len(r.Messages)-before < shares[asked[j]] && !st.more
	}
	return dry, errors.Join(errs...)
}

// afterPull records what a pull of a current partition said.
func (b *Broker) afterPull(spread *partitionSpread, part string, st pullState) {
	spread.weigh(part, st.turns)
	if st.retired {
		b.reg.invalidate() // the count changed since the cache was loaded
	}
}

// drainedIdle is how long the pulls of one process skip a draining
// partition after one found it without a turn, rather than pay a round trip
// for nothing on every pull until it is deleted (DrainGrace after the
// change at the earliest). A delayed message or an expired lease there
// comes back that much later at most.
const drainedIdle = 250 * time.Millisecond

// drainedRecently reports whether a pull found part without a turn within
// drainedIdle.
func (b *Broker) drainedRecently(part string) bool {
	b.parts.mu.Lock()
	defer b.parts.mu.Unlock()
	at, ok := b.parts.drained[part]
	return ok && time.Since(at) < drainedIdle
}

// foundDrained records that a pull found a draining partition without a
// turn, moves its dead letters to the current partitions, and deletes it if
// it holds nothing at all any more. Failures are left to the next time.
func (b *Broker) foundDrained(ctx context.Context, queue, part string) {
	b.parts.mu.Lock()
	if b.parts.drained == nil {
		b.parts.drained = make(map[string]time.Time)
	}
	b.parts.drained[part] = time.Now()
	b.parts.mu.Unlock()
	if err := b.moveDead(ctx, queue, part); err != nil {
		b.cfg.Logger.Warn("fairway: could not move the dead letters of a drained partition", "queue", queue, "partition", part, "err", err)
		return
	}
	if _, err := b.dropDrained(ctx, queue, part); err != nil {
		b.cfg.Logger.Warn("fairway: could not drop a drained partition", "queue", queue, "partition", part, "err", err)
	}
}

// partitionSpread spreads one queue's pulls over its partitions. A partition's
// weight is the length of its ring of turns at its last pull (one turn per
// facet of priority 1), so over time each facet gets the same share of
// pulls whichever partition it is in. It keeps, per partition, the messages
// owed to it by its weight and not yet asked of it: each pull asks the most
// owed first.
type partitionSpread struct {
	mu     sync.Mutex
	weight map[string]int64
	owed   map[string]float64
}

// minShare is the fewest messages a pull asks of each partition it asks,
// unless it asks only one: a pull script has a fixed cost, so splitting a
// small pull over every partition would cost more Redis time than it saves.
const minShare = 8

// partitionState is a Broker's state of the partitioned queues it pulls.
type partitionState struct {
	mu      sync.Mutex
	spreads map[string]*partitionSpread // queue -> its spread over its partitions
	drained map[string]time.Time        // draining partition -> when a pull last found it without a turn
}

// spreadOf returns queue's spread over its partitions, shared by every pull of this Broker.
func (b *Broker) spreadOf(queue string) *partitionSpread {
	b.parts.mu.Lock()
	defer b.parts.mu.Unlock()
	r, ok := b.parts.spreads[queue]
	if !ok {
		if b.parts.spreads == nil {
			b.parts.spreads = make(map[string]*partitionSpread)
		}
		r = &partitionSpread{weight: map[string]int64{}, owed: map[string]float64{}}
		b.parts.spreads[queue] = r
	}
	return r
}

// split returns the partitions, most owed first, and how many of n
// messages to ask each for. Each partition is owed n times its share of the
// weights; the first max(1, n/minShare) of them are asked for shares in
// proportion to what they are owed. A partition that had no turns at its
// last pull weighs 1, so that it is asked now and then and new work in it
// is found.
func (r *partitionSpread) split(names []string, n int) ([]string, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var total float64
	ws := make([]float64, len(names))
	for i, name := range names {
		ws[i] = float64(max(r.weight[name], 1))
		total += ws[i]
	}
	for i, name := range names {
		r.owed[name] += float64(n) * ws[i] / total
	}
	order := slices.Clone(names)
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(r.owed[b], r.owed[a]) })
	m := min(len(order), max(1, n/minShare))
	var sum float64
	for _, name := range order[:m] {
		sum += max(r.owed[name], 0)
	}
	shares := make([]int, len(order))
	left := n
	for i, name := range order[:m] {
		if sum > 0 {
			shares[i] = int(float64(n) * max(r.owed[name], 0) / sum)
		}
		left -= shares[i]
	}
	for i := 0; left > 0; i = (i + 1) % m {
		shares[i]++
		left--
	}
	for i, name := range order {
		r.owed[name] -= float64(shares[i])
	}
	return order, shares
}

// weigh records a partition's ring length after a pull.
func (r *partitionSpread) weigh(name string, turns int64) {
	r.mu.Lock()
	r.weight[name] = turns
	r.mu.Unlock()
}
