package chaos

import (
	"context"
	"strconv"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// check counts what the workers handled and checks the queue once every
// worker has stopped.
func (r *run) check(ctx context.Context) {
	if ctx.Err() != nil {
		r.res.fail("the run timed out after %v", r.cfg.Timeout)
		ctx = context.WithoutCancel(ctx) // still read what happened
	}
	counts, err := r.rdb.HGetAll(ctx, recordKey).Result()
	if err != nil {
		r.res.fail("read the handled messages: %v", err)
		return
	}
	r.res.Handled = int64(len(counts))
	for id, c := range counts {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			r.res.fail("message %s has the count %q", id, c)
			continue
		}
		r.res.Duplicates += n - 1
	}
	// Every message whose delivery returned nil is handled; those of the
	// keyless producer's failed calls may be too.
	sure := int64(r.cfg.Messages) + r.res.KeylessDelivered
	r.res.Lost = max(sure-r.res.Handled, 0)
	switch {
	case r.res.Lost > 0:
		r.res.fail("%d of %d messages were never handled", r.res.Lost, sure)
	case r.res.Handled > sure+r.res.KeylessUncertain:
		r.res.fail("%d messages handled, but at most %d delivered: a delivery was queued twice", r.res.Handled, sure+r.res.KeylessUncertain)
	}
	if r.cfg.ReplyLoss > 0 && r.res.RepliesLost == 0 {
		r.res.fail("no reply was lost: the proxy's fault did not happen")
	}
	if r.res.Duplicates > r.res.AllowedDuplicates {
		r.res.fail("%d duplicates, but only %d messages were leased at the kills", r.res.Duplicates, r.res.AllowedDuplicates)
	}
	st, err := r.b.Stats(ctx, queueName)
	if err != nil {
		r.res.fail("stats: %v", err)
		return
	}
	r.res.Dead, r.res.Stuck = st.Dead, st.Ready+st.InFlight+st.Delayed
	if st != (broker.QueueStats{Routed: true}) {
		r.res.fail("the queue is not empty at the end: %+v", st)
	}
	parts, err := r.b.Partitions(ctx, queueName)
	if err != nil {
		r.res.fail("partitions: %v", err)
		return
	}
	for _, name := range append(parts.Names, parts.Draining...) {
		if err := testutil.CheckQueue(ctx, r.rdb, namespace, name); err != nil {
			r.res.Invariants = err.Error()
			r.res.fail("%v", err)
		}
	}
}
