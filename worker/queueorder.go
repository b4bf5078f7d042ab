package worker

import (
	"cmp"
	"maps"
	"slices"
	"sync"
)

// queueOrder orders a worker's queues for each fetch. By weight, it uses smooth
// weighted round-robin to pick the queue tried first, so over time each queue
// is first in proportion to its weight, evenly spread; the others follow,
// heaviest first, so free slots never wait while any queue has work. In
// strict order, the heaviest queue is always first.
type queueOrder struct {
	mu      sync.Mutex
	names   []string // heaviest first, then by name
	weights []int
	current []int // smooth round-robin state
	strict  bool
}

func newQueueOrder(queues map[string]int, strict bool) *queueOrder {
	names := slices.SortedFunc(maps.Keys(queues), func(a, b string) int {
		return cmp.Or(cmp.Compare(queues[b], queues[a]), cmp.Compare(a, b))
	})
	r := &queueOrder{names: names, strict: strict, current: make([]int, len(names))}
	for _, n := range names {
		r.weights = append(r.weights, queues[n])
	}
	return r
}

func (r *queueOrder) queues() []string { return slices.Clone(r.names) }

// next returns every queue, the one to try first in front.
func (r *queueOrder) next() []string {
	if r.strict || len(r.names) == 1 {
		return r.names
	}
	r.mu.Lock()
	total, best := 0, 0
	for i, w := range r.weights {
		r.current[i] += w
		total += w
		if r.current[i] > r.current[best] {
			best = i
		}
	}
	r.current[best] -= total
	r.mu.Unlock()
	out := make([]string, 0, len(r.names))
	out = append(out, r.names[best])
	for i, n := range r.names {
		if i != best {
			out = append(out, n)
		}
	}
	return out
}
