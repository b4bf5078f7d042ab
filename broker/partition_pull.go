package broker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
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
	rot := b.rotationOf(queue)
	for _, part := range rot.order(p.Names) {
		st, err := b.pullPartition(ctx, queue, part, n, lease, &r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rot.weigh(part, st.turns)
		if st.retired {
			b.invalidateRegistry() // the count changed since the cache was loaded
		}
		if len(r.Messages) == n {
			break
		}
	}
	if len(r.Messages) == 0 && len(errs) > 0 {
		return PullResult{}, errors.Join(errs...)
	}
	return r.done(n), nil
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

// weigh records a partition's ring length after a pull.
func (r *rotation) weigh(name string, turns int64) {
	r.mu.Lock()
	r.weight[name] = turns
	r.mu.Unlock()
}
