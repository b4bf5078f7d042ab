package broker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// DeadLetter is a message that ran out of attempts, or was killed.
type DeadLetter struct {
	Message
	// Error is why it died: the reason given with its last Nack or Kill.
	Error string
	// DiedAt is when it became a dead letter, by Redis's clock.
	DiedAt time.Time
	// Stack is the stack given with WithStack to its last Nack or Kill
	// (the worker gives a panic's), at most MaxStackBytes; "" when none.
	Stack string
}

// deadBatch is how many dead letters one script call requeues or purges, so
// that no call blocks Redis for long.
const deadBatch = 500

// DeadLetters lists up to limit dead letters of queue, oldest first,
// skipping the first offset.
func (b *Broker) DeadLetters(ctx context.Context, queue string, offset, limit int) ([]DeadLetter, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return nil, err
	}
	if offset < 0 || limit < 1 {
		return nil, fmt.Errorf("%w: offset %d, limit %d", ErrInvalidArgument, offset, limit)
	}
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil {
		return nil, err
	}
	if p.simple() {
		return b.deadLettersIn(ctx, queue, p.Names[0], offset, limit)
	}
	// The first offset+limit of each partition hold the first offset+limit
	// of the whole queue; merged by time of death, as one queue lists them.
	var all []DeadLetter
	for _, part := range p.all() {
		ds, err := b.deadLettersIn(ctx, queue, part, 0, offset+limit)
		if err != nil {
			return nil, err
		}
		all = append(all, ds...)
	}
	slices.SortStableFunc(all, func(a, b DeadLetter) int {
		return cmp.Or(a.DiedAt.Compare(b.DiedAt), cmp.Compare(a.ID, b.ID))
	})
	if offset >= len(all) {
		return nil, nil
	}
	return all[offset:min(offset+limit, len(all))], nil
}

// deadLettersIn lists dead letters of one partition of queue.
func (b *Broker) deadLettersIn(ctx context.Context, queue, part string, offset, limit int) ([]DeadLetter, error) {
	zs, err := b.rdb.ZRangeWithScores(ctx, b.keys.queueKey(part, keylayout.Dead), int64(offset), int64(offset+limit-1)).Result()
	if err != nil || len(zs) == 0 {
		return nil, wrapRedis("list dead letters", err)
	}
	ids := make([]string, len(zs))
	for i, z := range zs {
		ids[i], _ = z.Member.(string)
	}
	var envs, reasons, atts *redis.SliceCmd
	_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		envs = p.HMGet(ctx, b.keys.queueKey(part, keylayout.Msgs), ids...)
		reasons = p.HMGet(ctx, b.keys.queueKey(part, keylayout.DeadErr), ids...)
		atts = p.HMGet(ctx, b.keys.queueKey(part, keylayout.Msgs), attemptFields(ids)...)
		return nil
	})
	if err != nil {
		return nil, wrapRedis("list dead letters", err)
	}
	out := make([]DeadLetter, 0, len(ids))
	for i, id := range ids {
		d := DeadLetter{
			Message: Message{ID: id, Queue: queue, EnqueuedAt: idTime(id), Attempt: intOr(atts.Val()[i], 0)},
			DiedAt:  time.UnixMilli(int64(zs[i].Score)),
		}
		reason, _ := reasons.Val()[i].(string)
		d.Error, d.Stack = splitDeadReason(reason)
		raw, _ := envs.Val()[i].(string)
		if e, err := decodeEnvelope(raw); err == nil {
			b.fillFromEnvelope(&d.Message, e)
		}
		out = append(out, d)
	}
	return out, nil
}

// RequeueDead puts the dead letters with these IDs back at the tail of their
// facets, with their attempts reset. It returns how many it requeued; IDs
// that are not dead letters are skipped.
func (b *Broker) RequeueDead(ctx context.Context, queue string, ids ...string) (int, error) {
	return b.deadByID(ctx, scriptDeadRequeue, "requeue dead letters", queue, ids)
}

// PurgeDead deletes the dead letters with these IDs. It returns how many it
// deleted.
func (b *Broker) PurgeDead(ctx context.Context, queue string, ids ...string) (int, error) {
	return b.deadByID(ctx, scriptDeadPurge, "purge dead letters", queue, ids)
}

// RequeueAllDead requeues every dead letter of queue, a batch per round trip.
func (b *Broker) RequeueAllDead(ctx context.Context, queue string) (int, error) {
	return b.deadAll(ctx, scriptDeadRequeue, "requeue dead letters", queue)
}

// PurgeAllDead deletes every dead letter of queue, a batch per round trip.
func (b *Broker) PurgeAllDead(ctx context.Context, queue string) (int, error) {
	return b.deadAll(ctx, scriptDeadPurge, "purge dead letters", queue)
}

func (b *Broker) deadByID(ctx context.Context, s *redis.Script, op, queue string, ids []string) (int, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return 0, err
	}
	total := 0
	for start := 0; start < len(ids); start += deadBatch {
		chunk := ids[start:min(start+deadBatch, len(ids))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, 0)
		for _, id := range chunk {
			args = append(args, id)
		}
		err := b.eachPartition(ctx, queue, func(part string) error {
			n, err := b.deadRun(ctx, s, op, part, args)
			total += n
			return err
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deadAll takes the oldest dead letters a batch at a time. It stops after as
// many as there were when it began, so letters dying meanwhile cannot keep
// it going forever.
func (b *Broker) deadAll(ctx context.Context, s *redis.Script, op, queue string) (int, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return 0, err
	}
	total := 0
	err := b.eachPartition(ctx, queue, func(part string) error {
		n, err := b.deadAllIn(ctx, s, op, part)
		total += n
		return err
	})
	return total, err
}

// deadAllIn is deadAll on one partition.
func (b *Broker) deadAllIn(ctx context.Context, s *redis.Script, op, queue string) (int, error) {
	count, err := b.rdb.ZCard(ctx, b.keys.queueKey(queue, keylayout.Dead)).Result()
	if err != nil {
		return 0, wrapRedis(op, err)
	}
	total := 0
	for int64(total) < count {
		n, err := b.deadRun(ctx, s, op, queue, []any{min(deadBatch, int(count)-total)})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

func (b *Broker) deadRun(ctx context.Context, s *redis.Script, op, queue string, args []any) (int, error) {
	n, err := b.runQueue(ctx, s, queue, args...).Int64()
	if err != nil {
		return 0, wrapRedis(op, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("%w %q", ErrUnknownQueue, queue)
	}
	return int(n), nil
}
