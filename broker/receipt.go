package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Receipt says what one delivery did, so that a producer need not trust
// that a topic routes where it thinks: WithReceipt fills one in.
type Receipt struct {
	// ID is the message's ID, as Message.ID gives it to the handlers of
	// every queue that has it.
	ID string
	// Queues are the registered queues the message was queued on, sorted:
	// the names RegisterQueue was given (a partitioned queue's, not its
	// partitions'). Empty when no queue's pattern matched the topic: the
	// message was only published. A queue that kept an earlier delivery
	// with the same idempotency key within its window is listed too: that
	// twin is there, under its own ID.
	//
	// Every delivery that returns nil was published on its topic's channel
	// as well; the receipt does not repeat it.
	Queues []string
}

// WithReceipt has the delivery fill in r once it is made: r's ID and the
// queues it reached. r is left as it was when the call fails, except for
// an error wrapping ErrNoQueue from a queue unregistered during the call
// (see RequireQueue), when each receipt of the call says what its delivery
// reached. A nil r is an error wrapping ErrInvalidArgument.
func WithReceipt(r *Receipt) DeliverOption {
	return func(x *Delivery) {
		if r == nil {
			x.setOptErr(fmt.Errorf("%w: WithReceipt(nil)", ErrInvalidArgument))
		}
		x.Receipt = r
	}
}

// UnroutedPolicy says what becomes of a delivery whose topic no queue's
// pattern matches, so that a producer with a mistyped topic can find out on
// its first call rather than from a queue that stays empty.
type UnroutedPolicy int

const (
	// UnroutedDefault leaves the choice to Config.Unrouted in a Delivery,
	// and is UnroutedPublish in Config.
	UnroutedDefault UnroutedPolicy = iota
	// UnroutedPublish only publishes such a delivery: subscribers hear of
	// it, no queue has it. This is the default, since a topic may be meant
	// for subscribers only; a delivery left to it by default (not one that
	// asked for it, as PublishOnly does) has the broker log a warning the
	// first time its topic reaches no queue.
	UnroutedPublish
	// UnroutedReject refuses such a delivery with an error wrapping
	// ErrNoQueue, before anything is queued or published.
	UnroutedReject
)

// RequireQueue makes a delivery whose topic no queue matches fail with an
// error wrapping ErrNoQueue instead of being only published.
//
// The check is made before anything is written, against the registry as
// Redis has it (a stale cache is reloaded before a refusal), so a refused
// call writes nothing: no message is queued or published, and in a
// DeliverBatch no delivery of the batch is. A queue unregistered between
// the check and the write (a race with UnregisterQueue) can still leave a
// delivery with no queue: then the call fails with an error wrapping
// ErrNoQueue that says so, the message was published and is queued
// nowhere, and the other deliveries of the batch were made.
func RequireQueue() DeliverOption {
	return func(x *Delivery) { x.Unrouted = UnroutedReject }
}

// PublishOnly lets one delivery reach no queue, and be only published,
// where Config.Unrouted is UnroutedReject, as for a topic meant for
// subscribers. It still queues the message on every queue that matches;
// when none does, no warning is logged.
func PublishOnly() DeliverOption {
	return func(x *Delivery) { x.Unrouted = UnroutedPublish }
}

// setOptErr keeps the first bad argument an option was given, for
// checkDelivery to report.
func (x *Delivery) setOptErr(err error) {
	if x.optErr == nil {
		x.optErr = err
	}
}

// applyOptions applies opts to d; a nil option is an error.
func applyOptions(d *Delivery, opts []DeliverOption) {
	for _, o := range opts {
		if o == nil {
			d.setOptErr(fmt.Errorf("%w: nil DeliverOption", ErrInvalidArgument))
			continue
		}
		o(d)
	}
}

// policy is d's UnroutedPolicy, Config's when d leaves it to the default.
func (b *Broker) policy(d *Delivery) UnroutedPolicy {
	if d.Unrouted == UnroutedDefault {
		return b.cfg.Unrouted
	}
	return d.Unrouted
}

// checkRouted refuses the batch when two deliveries share a receipt, or a
// delivery that requires a queue has none, before anything is sent. It
// routes by the cache, and by the registry as Redis has it before it
// refuses.
func (b *Broker) checkRouted(ctx context.Context, ds []Delivery, ps []prepared) error {
	var receipts map[*Receipt]int // made when a delivery has one
	var strict []prepared
	var index []int // in ds, of each of strict
	for i := range ds {
		if r := ds[i].Receipt; r != nil {
			if j, dup := receipts[r]; dup {
				return fmt.Errorf("%w: deliveries %d and %d share one Receipt", ErrInvalidArgument, j, i)
			}
			if receipts == nil {
				receipts = make(map[*Receipt]int)
			}
			receipts[r] = i
		}
		if b.policy(&ds[i]) == UnroutedReject {
			strict, index = append(strict, ps[i]), append(index, i)
		}
	}
	if len(strict) == 0 {
		return nil
	}
	unrouted, err := b.unroutedOf(ctx, strict, index)
	if err != nil || len(unrouted) == 0 {
		return err
	}
	// The cache may predate a RegisterQueue that has returned: ask Redis.
	if err := b.loadRegistry(ctx); err != nil {
		return err
	}
	if unrouted, err = b.unroutedOf(ctx, strict, index); err != nil || len(unrouted) == 0 {
		return err
	}
	return noQueueError(ds, unrouted, len(ds) > 1, "")
}

// unroutedOf lists the deliveries (their index in the batch) among ps that
// the cached registry routes to no queue.
func (b *Broker) unroutedOf(ctx context.Context, ps []prepared, index []int) ([]int, error) {
	r, err := b.route(ctx, ps)
	if err != nil {
		return nil, err
	}
	var out []int
	for i, qs := range r.routes {
		if len(qs) == 0 {
			out = append(out, index[i])
		}
	}
	return out, nil
}

// maxNamed is how many deliveries a no-queue error names.
const maxNamed = 10

// noQueueError is the error for the deliveries at unrouted, naming each
// (by index too when the call had several) with its topic, then why.
func noQueueError(ds []Delivery, unrouted []int, batch bool, why string) error {
	var s strings.Builder
	for n, i := range unrouted {
		if n == maxNamed {
			fmt.Fprintf(&s, " and %d more", len(unrouted)-n)
			break
		}
		if n > 0 {
			s.WriteString(", ")
		}
		if batch {
			fmt.Fprintf(&s, "delivery %d ", i)
		}
		fmt.Fprintf(&s, "topic %q", ds[i].Topic)
	}
	if why == "" {
		why = "nothing was delivered"
		if batch {
			why = "no delivery of the batch was made"
		}
	}
	return fmt.Errorf("%w: %s; %s", ErrNoQueue, s.String(), why)
}

// settleUnrouted fills the deliveries' receipts, warns of each topic that
// reached no queue (and was not refused by one), once, and returns the error for the deliveries that
// required a queue and reached none: their queues went away between the
// check and the write.
func (b *Broker) settleUnrouted(ds []Delivery, ps []prepared, res sendResult) error {
	var lost []int
	for i := range ds {
		if r := ds[i].Receipt; r != nil {
			*r = Receipt{ID: ps[i].id, Queues: res.reached[i]}
		}
		if len(res.reached[i]) > 0 || len(res.refused[i]) > 0 { // a refusal is its own error
			continue
		}
		switch {
		case b.policy(&ds[i]) == UnroutedReject:
			lost = append(lost, i)
		case ds[i].Unrouted == UnroutedDefault: // publish-only by default, not by request
			b.unrouted.warn(b.cfg.Logger.Warn, ds[i].Topic)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	why := "the queues it matched were unregistered or changed pattern during the call: it was published and queued nowhere"
	if len(ds) > 1 {
		why = "the queues they matched were unregistered or changed pattern during the call: they were published and queued nowhere; the other deliveries were made"
	}
	return noQueueError(ds, lost, len(ds) > 1, why)
}

// maxUnroutedWarned bounds the topics the broker remembers having warned
// of, so that a flood of distinct topics cannot grow its memory.
const maxUnroutedWarned = 1000

// unroutedWarnings remembers the topics whose deliveries reached no queue,
// to warn of each once.
type unroutedWarnings struct {
	mu     sync.Mutex
	warned map[string]bool
	full   bool // warned of maxUnroutedWarned topics; no more warnings
}

// warn logs, through log, that topic reached no queue, unless it did
// before or the set is full (which it says once).
func (u *unroutedWarnings) warn(log func(string, ...any), topic string) {
	u.mu.Lock()
	if u.full || u.warned[topic] {
		u.mu.Unlock()
		return
	}
	if u.warned == nil {
		u.warned = make(map[string]bool)
	}
	u.warned[topic] = true
	last := len(u.warned) == maxUnroutedWarned
	u.full = last
	u.mu.Unlock()
	log("fairway: a delivery matched no queue; it was only published (warned once per topic; RequireQueue makes it an error)", "topic", topic)
	if last {
		log("fairway: deliveries of many topics matched no queue; no more warnings of new ones", "topics", maxUnroutedWarned)
	}
}
