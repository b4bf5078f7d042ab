package worker

import (
	"errors"
	"fmt"
	"time"
)

// failingQueues holds back the queues whose pulls fail while other queues of
// the worker answer: a queue whose keys were damaged, say. Each waits out
// its own backoff, so that one broken queue does not slow down the rest (the
// fetcher backs off as a whole only when no queue answers). Only the
// fetcher's goroutine uses it.
type failingQueues map[string]*queueFailure

type queueFailure struct {
	err     error
	until   time.Time
	delay   *retryDelay
	missing bool // the queue does not exist: Redis answered
}

// held reports whether queue is waiting out its backoff.
func (f failingQueues) held(queue string) bool {
	s := f[queue]
	return s != nil && time.Now().Before(s.until)
}

// failed records that pulling queue failed with err, and returns err naming
// the queue.
func (f failingQueues) failed(queue string, err error) error {
	s := f[queue]
	if s == nil {
		s = &queueFailure{delay: newRetryDelay()}
		f[queue] = s
	}
	s.err, s.missing = fmt.Errorf("queue %q: %w", queue, err), false
	s.until = time.Now().Add(s.delay.next())
	return s.err
}

// missing records that queue does not exist, for err, and holds it back as
// failed does; errs leaves it out, since Redis answered.
func (f failingQueues) missing(queue string, err error) {
	_ = f.failed(queue, err)
	f[queue].missing = true
}

// answered forgets queue's failures.
func (f failingQueues) answered(queue string) { delete(f, queue) }

// errs joins the last error of every failing queue.
func (f failingQueues) errs() error {
	var errs []error
	for _, s := range f {
		if !s.missing {
			errs = append(errs, s.err)
		}
	}
	return errors.Join(errs...)
}
