package broker

import (
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
// order of the rotation. A partition that fails (its Redis node is down)
// does not stop the others: its error is returned only when nothing was
// leased.
func (b *Broker) pullPartitioned(ctx context.Context, queue string, p Partitioning, n int, lease time.Duration) (PullResult, error) {
	var r PullResult
	var errs []error
	for _, part := range p.Draining {
		st, err := b.pullPartition(ctx, queue, part, n, lease, &r)
		switch {
		case errors.Is(err, ErrUnknownQueue):
			b.invalidateRegistry() // another process dropped it
		case err != nil:
			errs = append(errs, err)
		case st.turns == 0 && len(r.Messages) < n:
			b.maybeDropDrained(ctx, queue, part, p.Since)
		}
		if len(r.Messages) == n {
			return r.done(n), nil
		}
	}
	// The current partitions are asked for their shares all at once, in
	// one pipeline (on a cluster, go-redis sends each node its part in
	// parallel); then, if some ran dry, the others for the rest, in turn.
	rot := b.rotationOf(queue)
	order, shares := rot.split(p.Names, n-len(r.Messages))
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
		b.afterPull(queue, rot, part, st)
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
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			c.queue(ctx, p)
		}
		return nil
	})
	if err := rerunLost(ctx, b.rdb, calls); err != nil {
		return dry, wrapRedis("pull", err)
	}
	rot := b.rotationOf(queue)
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
		b.afterPull(queue, rot, part, st)
		dry[part] = len(r.Messages)-before < shares[asked[j]] && !st.more
	}
	return dry, errors.Join(errs...)
}

// afterPull records what a pull of a current partition said.
func (b *Broker) afterPull(queue string, rot *rotation, part string, st pullState) {
	rot.weigh(part, st.turns)
	if st.retired {
		b.invalidateRegistry() // the count changed since the cache was loaded
	}
}

// dropCheckEvery is how often one process checks whether a draining
// partition it found empty can be deleted.
const dropCheckEvery = time.Second

// maybeDropDrained deletes a draining partition that pull found with no turn
// left, at most once per dropCheckEvery per partition. Failures are left to
// the next check.
func (b *Broker) maybeDropDrained(ctx context.Context, queue, part string, since time.Time) {
	now := time.Now()
	if last, ok := b.dropChecks.Load(part); ok && now.Sub(last.(time.Time)) < dropCheckEvery {
		return
	}
	b.dropChecks.Store(part, now)
	if _, err := b.dropDrained(ctx, queue, part, since); err != nil {
		b.cfg.Logger.Warn("fairway: could not drop a drained partition", "queue", queue, "partition", part, "err", err)
	}
}

// rotation spreads one queue's pulls over its partitions by smooth weighted
// round robin. A partition's weight is the length of its ring of turns at
// its last pull (one turn per facet of priority 1), so over time each facet
// gets the same share of pulls whichever partition it is in.
type rotation struct {
	mu     sync.Mutex
	weight map[string]int64
	credit map[string]int64
	next   int // for plain round robin while every weight is 0
}

// rotationOf returns queue's rotation, shared by every pull of this Broker.
func (b *Broker) rotationOf(queue string) *rotation {
	if v, ok := b.rotations.Load(queue); ok {
		return v.(*rotation)
	}
	v, _ := b.rotations.LoadOrStore(queue, &rotation{weight: map[string]int64{}, credit: map[string]int64{}})
	return v.(*rotation)
}

// order returns the partitions in the order to pull them: the one whose
// turn it is first, then the others by how much they are owed. A partition
// not pulled yet weighs 1.
func (r *rotation) order(names []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(names)
	var total int64
	for _, name := range names {
		w, ok := r.weight[name]
		if !ok {
			w = 1
		}
		r.credit[name] += w
		total += w
	}
	if total == 0 {
		r.next = (r.next + 1) % len(out)
		first := out[r.next]
		out = append(append([]string{first}, out[:r.next]...), out[r.next+1:]...)
		return out
	}
	slices.SortStableFunc(out, func(a, b string) int {
		switch ca, cb := r.credit[a], r.credit[b]; {
		case ca > cb:
			return -1
		case ca < cb:
			return 1
		}
		return 0
	})
	r.credit[out[0]] -= total
	return out
}

// split returns the partitions in rotation order and how many of n
// messages to ask each for: shares in proportion to their weights (equal
// when every weight is 0), the units left by rounding down going to the
// first in the order, so that over calls they go round.
func (r *rotation) split(names []string, n int) ([]string, []int) {
	order := r.order(names)
	r.mu.Lock()
	defer r.mu.Unlock()
	weights := make([]int64, len(order))
	var total int64
	for i, name := range order {
		w, ok := r.weight[name]
		if !ok {
			w = 1
		}
		weights[i] = w
		total += w
	}
	if total == 0 {
		for i := range weights {
			weights[i] = 1
		}
		total = int64(len(weights))
	}
	shares := make([]int, len(order))
	left := n
	for i, w := range weights {
		shares[i] = int(int64(n) * w / total)
		left -= shares[i]
	}
	for i := 0; left > 0; i = (i + 1) % len(order) {
		if weights[i] > 0 {
			shares[i]++
			left--
		}
	}
	return order, shares
}

// weigh records a partition's ring length after a pull.
func (r *rotation) weigh(name string, turns int64) {
	r.mu.Lock()
	r.weight[name] = turns
	r.mu.Unlock()
}
