package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fairwayhq/fairway/internal/keylayout"
)

// ErrBacklogFull is wrapped by the error of a delivery that a queue's
// admission control refused: its facet holds as many ready messages as its
// backlog cap allows (SetBacklogLimit), or the queue as many messages as
// its own cap does (SetQueueBacklogLimit). The refused delivery wrote
// nothing on that queue; errors.As finds the *BacklogFullError that says
// which deliveries, queues and caps.
var ErrBacklogFull = errors.New("broker: backlog full")

// BacklogFullError is the error of a delivery call some of whose deliveries
// a queue refused for its backlog caps. A queue admits or refuses each
// call's deliveries together: every delivery of a batch that reached a
// queue that refused one is refused by it. A delivery that also reached
// another queue was queued there (its Receipt says where). Pub/sub is
// told by the enqueue script of the batch's last queue: when that queue
// refused any delivery, only those some queue took are published; a
// delivery refused by another queue of the batch alone may still be.
type BacklogFullError struct {
	// Refused lists each delivery refused by each queue, by Index, then
	// by Queue.
	Refused []Refusal
}

// Refusal is one delivery refused by one queue's admission control.
type Refusal struct {
	// Index is the delivery's place in the batch (0 for Deliver).
	Index int
	// Queue is the queue that refused it, by its registered name.
	Queue string
	// Facet is the delivery's facet.
	Facet string
	// WholeQueue says the queue's cap refused it (SetQueueBacklogLimit),
	// not its facet's; then Cap is the queue's, or a partition's share of it.
	WholeQueue bool
	// Cap is the cap the delivery would have passed; a delivery refused
	// with others of its batch (not for its own facet) has the cap of the
	// facet or queue that refused the batch.
	Cap int
}

// Error names up to ten refused deliveries, with the caps they met.
func (e *BacklogFullError) Error() string {
	var s strings.Builder
	for n, r := range e.Refused {
		if n == maxNamed {
			fmt.Fprintf(&s, " and %d more", len(e.Refused)-n)
			break
		}
		if n > 0 {
			s.WriteString(", ")
		}
		if len(e.Refused) > 1 {
			fmt.Fprintf(&s, "delivery %d ", r.Index)
		}
		if r.WholeQueue {
			fmt.Fprintf(&s, "to queue %q (facet %q): the queue holds its cap of %d messages", r.Queue, r.Facet, r.Cap)
		} else {
			fmt.Fprintf(&s, "to queue %q: facet %q holds its backlog cap of %d ready messages", r.Queue, r.Facet, r.Cap)
		}
	}
	return fmt.Sprintf("%v: %s; refused, nothing of it written there", ErrBacklogFull, s.String())
}

// Unwrap makes the error match ErrBacklogFull.
func (e *BacklogFullError) Unwrap() error { return ErrBacklogFull }

// BacklogPolicy says what a queue does with a delivery that would take a
// facet past its backlog cap.
type BacklogPolicy int

const (
	// BacklogRefuse refuses the delivery with an error wrapping
	// ErrBacklogFull; nothing of it is written. The default.
	BacklogRefuse BacklogPolicy = iota
	// BacklogDropOldest takes the delivery and makes room by turning the
	// facet's oldest ready messages into dead letters, with the reason
	// "backlog full: ...", counted in Stats.Dropped: for work where the
	// newest message supersedes the older ones (a sync, a refresh).
	BacklogDropOldest
)

// String is the policy's name in the CLI and JSON: "refuse" or "drop".
func (p BacklogPolicy) String() string {
	switch p {
	case BacklogRefuse:
		return "refuse"
	case BacklogDropOldest:
		return "drop"
	}
	return "BacklogPolicy(" + strconv.Itoa(int(p)) + ")"
}

// ParseBacklogPolicy reads a policy's name, as String writes it.
func ParseBacklogPolicy(s string) (BacklogPolicy, error) {
	switch s {
	case "refuse":
		return BacklogRefuse, nil
	case "drop":
		return BacklogDropOldest, nil
	}
	return 0, fmt.Errorf("%w: backlog policy %q is neither \"refuse\" nor \"drop\"", ErrInvalidArgument, s)
}

// SetBacklogLimit caps how many ready messages each facet of queue may
// hold, for every facet without a cap of its own (SetFacetBacklogLimit),
// so that one tenant's flood cannot fill Redis's memory: a delivery past
// it is refused or makes room, as SetBacklogPolicy says. It is checked in
// the enqueue script, atomically, against the facet's list (O(1)). Delayed
// messages count once they are due, leased ones not at all (the in-flight
// limits bound those). Messages queued before a cap was lowered stay. 0
// removes it.
func (b *Broker) SetBacklogLimit(ctx context.Context, queue string, n int) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if err := checkLimit("backlog cap", n); err != nil {
		return err
	}
	return b.queueSetting(ctx, "set backlog cap", queue, scriptSettings, "admit", "facet", n)
}

// SetFacetBacklogLimit gives facet of queue its own backlog cap, which
// overrides the queue's (SetBacklogLimit): a large tenant that may queue
// more, or a noisy one held to less. 0 exempts the facet from the queue's
// cap. ClearFacetBacklogLimit undoes it.
func (b *Broker) SetFacetBacklogLimit(ctx context.Context, queue, facet string, n int) error {
	if err := b.checkFacetArgs(ctx, queue, facet); err != nil {
		return err
	}
	if err := checkLimit("backlog cap", n); err != nil {
		return err
	}
	return b.queueSetting(ctx, "set facet backlog cap", queue, scriptSettings, "backlog", facet, n)
}

// ClearFacetBacklogLimit removes facet's own backlog cap, so that the
// queue's (if any) applies to it again.
func (b *Broker) ClearFacetBacklogLimit(ctx context.Context, queue, facet string) error {
	if err := b.checkFacetArgs(ctx, queue, facet); err != nil {
		return err
	}
	return b.queueSetting(ctx, "clear facet backlog cap", queue, scriptSettings, "backlog", facet, "")
}

// FacetBacklogLimits returns the facets of queue that have a backlog cap of
// their own (SetFacetBacklogLimit), with it; 0 exempts its facet from the
// queue's cap. It costs O(such facets).
func (b *Broker) FacetBacklogLimits(ctx context.Context, queue string) (map[string]int, error) {
	return b.facetsOwn(ctx, "facet backlog caps", queue, keylayout.Backlogs)
}

// SetQueueBacklogLimit caps how many messages queue holds, all facets
// together: ready, delayed and leased (not dead letters, which
// Config.DeadLetterCap bounds). A delivery past it is refused, whatever
// the backlog policy: dropping another tenant's work to make room would
// let one tenant's flood push the others out. A partitioned queue gives
// each of its k partitions its share (as the dead-letter cap), so n must be
// at least k. 0 removes it.
func (b *Broker) SetQueueBacklogLimit(ctx context.Context, queue string, n int) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if err := checkLimit("queue backlog cap", n); err != nil {
		return err
	}
	if n > 0 {
		p, err := b.partitions(ctx, queue, 0)
		if err != nil {
			return err
		}
		if n < p.Count {
			return fmt.Errorf("%w: queue backlog cap %d is below the %d partitions of %q (each partition needs a share of at least 1)", ErrInvalidArgument, n, p.Count, queue)
		}
	}
	return b.queueSetting(ctx, "set queue backlog cap", queue, scriptSettings, "admit", "queue", n)
}

// SetBacklogPolicy says what queue does with a delivery that would take a
// facet past its backlog cap: refuse it (BacklogRefuse, the default) or
// take it and drop the facet's oldest ready messages to the dead letters
// (BacklogDropOldest).
func (b *Broker) SetBacklogPolicy(ctx context.Context, queue string, p BacklogPolicy) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if p != BacklogRefuse && p != BacklogDropOldest {
		return fmt.Errorf("%w: backlog policy %d", ErrInvalidArgument, p)
	}
	return b.queueSetting(ctx, "set backlog policy", queue, scriptSettings, "admit", "policy", p.String())
}

// admission is a queue's admission control as cfg.admit holds it.
type admission struct {
	facet, queue int
	policy       BacklogPolicy
}

// parseAdmission reads cfg.admit "<facet>;<queue>;<policy>;<own>"; the
// zero admission for an absent or unreadable value.
func parseAdmission(v string) admission {
	parts := strings.Split(v, ";")
	if len(parts) != 4 {
		return admission{}
	}
	f, err1 := strconv.Atoi(parts[0])
	q, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return admission{}
	}
	a := admission{facet: f, queue: q}
	if parts[2] == "drop" {
		a.policy = BacklogDropOldest
	}
	return a
}

// backlogFull is the error of a call whose deliveries some queues refused
// (refused per delivery, as sendResult holds them), or nil.
func backlogFull(refused [][]Refusal) error {
	var all []Refusal
	for i, rs := range refused {
		for _, r := range rs {
			r.Index = i
			all = append(all, r)
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.SortStableFunc(all, func(a, b Refusal) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), strings.Compare(a.Queue, b.Queue))
	})
	return &BacklogFullError{Refused: all}
}
