package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// keeper owns the lease of every message the worker holds, from its pull to
// its settlement: it extends the leases of messages whose handlers run long,
// cancels a handler's context when its lease is lost, and tells the acker
// and the settle path how long they may retry (deadline).
//
// Each lease's deadline is kept on the local monotonic clock only. It is
// taken from a reply of Redis (pull or extend) as the local time the request
// was sent plus the lease that the script gave from its own clock's now, so
// it never mixes Redis's clock with ours and it errs early, never late.
type keeper struct {
	b     *broker.Broker
	log   *slog.Logger
	lease time.Duration

	mu      sync.Mutex
	tracked map[*broker.Message]*leaseState
	onTick  func() // a test hook
}

type leaseState struct {
	// lease is the keeper's own copy of the message, so that Extend never
	// writes to the one the handler reads.
	lease  *broker.Message
	cancel context.CancelCauseFunc
	// deadline is when the lease ends, on the local monotonic clock, as of
	// the last pull or extend: the one record of it.
	deadline time.Time
	// handling is true while the handler runs: only then is the lease
	// extended.
	handling bool
}

func newKeeper(b *broker.Broker, log *slog.Logger, lease time.Duration) *keeper {
	return &keeper{
		b: b, log: log, lease: lease,
		tracked: make(map[*broker.Message]*leaseState),
	}
}

// hold records a message just pulled, whose lease ends at deadline on the
// local clock (see pulledDeadline).
func (k *keeper) hold(m *broker.Message, deadline time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cp := *m
	k.tracked[m] = &leaseState{lease: &cp, deadline: deadline}
}

// track starts keeping m's lease while its handler runs; cancel is called
// with ErrLeaseLost if the lease is lost meanwhile. A message not held
// before gets a lease that counts as ending now, so it is extended at once.
func (k *keeper) track(m *broker.Message, cancel context.CancelCauseFunc) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.tracked[m]
	if !ok {
		cp := *m
		s = &leaseState{lease: &cp, deadline: time.Now()}
		k.tracked[m] = s
	}
	s.cancel, s.handling = cancel, true
}

// untrack stops extending m's lease once its handler returned. The lease
// stays recorded, for the acker or the settle path, until forget.
func (k *keeper) untrack(m *broker.Message) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.tracked[m]; ok {
		s.handling = false
	}
}

// forget drops the leases of settled messages (acked, nacked, released, or
// given up).
func (k *keeper) forget(ms ...*broker.Message) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, m := range ms {
		delete(k.tracked, m)
	}
}

// deadline is when m's lease ends on the local clock, as the last pull or
// extend left it; the zero time (long past) when m is not held.
func (k *keeper) deadline(m *broker.Message) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.tracked[m]; ok {
		return s.deadline
	}
	return time.Time{}
}

// run checks leases four times per lease period and extends those that have
// run for a third of it, so a lease is renewed well before it ends, until
// ctx ends: a service (see supervisor).
func (k *keeper) run(ctx context.Context) error {
	t := time.NewTicker(k.lease / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if k.onTick != nil {
				k.onTick()
			}
			k.extendDue()
		}
	}
}

// extendDue extends the leases of running handlers with two thirds of the
// lease or less left.
func (k *keeper) extendDue() {
	k.mu.Lock()
	due := make(map[*broker.Message]*broker.Message)
	for m, s := range k.tracked {
		if s.handling && time.Until(s.deadline) <= k.lease-k.lease/3 {
			due[m] = s.lease
		}
	}
	k.mu.Unlock()
	for m, lease := range due {
		k.extend(m, lease)
	}
}

func (k *keeper) extend(m, lease *broker.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), k.lease/4)
	sent := time.Now()
	err := k.b.Extend(ctx, lease, k.lease)
	cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.tracked[m]
	switch {
	case !ok: // settled meanwhile
	case err == nil:
		// extend.lua set the deadline to its now + k.lease, and its now is
		// no earlier than sent.
		s.deadline = sent.Add(k.lease)
	case errors.Is(err, broker.ErrLeaseLost):
		if s.cancel != nil {
			s.cancel(broker.ErrLeaseLost)
		}
		s.deadline = time.Time{}
		s.handling = false
	default:
		k.log.Warn("fairway: could not extend a lease; will try again", "queue", m.Queue, "id", m.ID, "err", err)
	}
}

// pulledDeadline is when the lease of a message pulled with lease, by a
// request sent at sent (local clock), ends on the local clock.
//
// The pull script leased each message until its own now + lease, so
// LeaseDeadline - Now of that script is exactly lease, and the script ran
// after sent: sent + lease is never late. The result's Now is not used: a
// PullNext over partitions joins several scripts, on a cluster run by nodes
// whose clocks differ, and Now is only the last one's.
func pulledDeadline(sent time.Time, lease time.Duration) time.Time {
	return sent.Add(lease)
}

// settleTimeout bounds one try of an ack, nack, dead-letter or release.
const settleTimeout = 5 * time.Second

// settled is how a settle ended.
type settled int

const (
	settledDone   settled = iota // Redis applied it
	settledLost                  // Redis found every lease lost
	settledGaveUp                // the leases ended, or a hard stop came, first
)

// settle runs op (an ack, nack, dead-letter or release named what) on ms
// until Redis applies it, finds every lease lost, or each message's current
// lease, as this keeper holds it (extended or not), has ended, or quit
// closes (a hard stop). A message drops out of the retries when its own
// lease ends: it comes back by itself, at least once. The first try is made
// whatever the time: a release after a hard stop is how a canceled
// handler's message goes back. onErr, if not nil, sees each failed try;
// dropped, if not nil, hears of each message left out of the retries because
// its lease ended, with the error of the last try.
// The leases are forgotten when it returns, with the last error.
//
// This is the one retry rule of the worker's settlements: the acker and the
// handlers' settle path both use it, against the deadlines only the keeper
// writes.
func (k *keeper) settle(what string, ms []*broker.Message, quit <-chan struct{}, onErr func(error), dropped func(*broker.Message, error), op func(context.Context, []*broker.Message) error) (settled, error) {
	defer k.forget(ms...)
	retry := newRetryDelay()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		err := op(ctx, ms)
		cancel()
		switch {
		case err == nil:
			return settledDone, nil
		case errors.Is(err, broker.ErrLeaseLost) && !hasOtherThan(err, broker.ErrLeaseLost):
			return settledLost, err
		}
		if onErr != nil {
			onErr(err)
		}
		var last time.Time
		ms, last = k.live(what, ms, err, dropped)
		if len(ms) == 0 {
			return settledGaveUp, err
		}
		if !k.waitRetry(retry.next(), last, quit) {
			return settledGaveUp, err
		}
	}
}

// live is the part of ms whose leases have not ended, and the latest of
// their deadlines; it logs the messages that drop out after err.
func (k *keeper) live(what string, ms []*broker.Message, err error, dropped func(*broker.Message, error)) ([]*broker.Message, time.Time) {
	var last time.Time
	kept := ms[:0:0]
	for _, m := range ms {
		d := k.deadline(m)
		if time.Until(d) <= 0 {
			k.log.Error("fairway: could not "+what+" before the lease ended; the message will run again", "queue", m.Queue, "id", m.ID, "err", err)
			if dropped != nil {
				dropped(m, err)
			}
			continue
		}
		kept = append(kept, m)
		if d.After(last) {
			last = d
		}
	}
	return kept, last
}

// waitRetry waits d before a retry, cut short by the lease's end. It returns
// false, at once, if the lease already ended or quit is closed (a hard stop),
// and false when quit closes while it waits.
func (k *keeper) waitRetry(d time.Duration, deadline time.Time, quit <-chan struct{}) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	select {
	case <-quit:
		return false
	default:
	}
	t := time.NewTimer(min(d, left))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-quit:
		return false
	}
}

// hasOtherThan reports whether a joined error holds an error that is not
// target.
func hasOtherThan(err, target error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return !errors.Is(err, target)
	}
	for _, e := range j.Unwrap() {
		if !errors.Is(e, target) {
			return true
		}
	}
	return false
}
