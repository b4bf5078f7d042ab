package worker

import (
	"slices"
	"sync"
	"time"
)

// retriesDue remembers when the retries this process scheduled fall due, so
// that an idle fetcher wakes for them instead of on its next poll: a 200ms
// RetryBackoff must retry 200ms later, not at the next PollInterval. Redis
// publishes no wake-up when a delayed message falls due, but the process
// that nacked it knows when it will.
//
// The times are on the local monotonic clock, each taken after Redis
// answered the nack, so a wake-up is never earlier than the message's due
// time on Redis's clock (both clocks measure the same delay from the same
// event; their difference as wall clocks does not enter).
type retriesDue struct {
	mu      sync.Mutex
	due     []time.Time   // sorted, soonest first
	changed chan struct{} // signaled when an earlier time was added
}

// maxRetriesDue bounds what retriesDue keeps; past it, the latest retries
// are left to the poll interval.
const maxRetriesDue = 4096

func newRetriesDue() *retriesDue {
	return &retriesDue{changed: make(chan struct{}, 1)}
}

// add records a retry due at. It wakes a waiting fetcher when at is sooner
// than every time it was waiting for.
func (r *retriesDue) add(at time.Time) {
	r.mu.Lock()
	if len(r.due) >= maxRetriesDue {
		r.mu.Unlock()
		return
	}
	earliest := len(r.due) == 0 || at.Before(r.due[0])
	i, _ := slices.BinarySearchFunc(r.due, at, time.Time.Compare)
	r.due = slices.Insert(r.due, i, at)
	r.mu.Unlock()
	if earliest {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

// next returns how long until the next retry falls due (ok false: none is
// pending). Retries already due at now are dropped and answer 0, so the
// fetcher pulls at once: the pull before it may have run just before they
// fell due.
func (r *retriesDue) next(now time.Time) (wait time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(r.due) && !r.due[n].After(now) {
		n++
	}
	r.due = slices.Delete(r.due, 0, n)
	fell := n > 0
	switch {
	case fell:
		return 0, true
	case len(r.due) == 0:
		return 0, false
	}
	return r.due[0].Sub(now), true
}
