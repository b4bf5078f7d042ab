package broker

import (
	"context"
	"fmt"
	"slices"
)

// moveDead moves the dead letters of part, a draining partition of queue,
// to the current partitions, each to the one its facet maps to, a batch per
// round trip, so that part can be dropped once it holds nothing else and
// the queue keeps its one dead-letter cap (each partition holds its share
// of it, trimming its oldest). Each batch is filed in the new partition
// before it is forgotten in the old one: a failure in between leaves it in
// both until the next attempt, which files it again (changing nothing) and
// forgets it, and never loses it. A letter requeued or purged in the old
// partition meanwhile is taken back out of the new one.
func (b *Broker) moveDead(ctx context.Context, queue, part string) error {
	p, err := b.partitions(ctx, queue, partitionsMaxAge)
	if err != nil || slices.Contains(p.Names, part) { // a stale view: not draining yet
		return err
	}
	for {
		res, err := b.runQueue(ctx, scriptDeadMove, part, "export", deadBatch).Slice()
		if err != nil || len(res) == 0 {
			return wrapRedis("move dead letters", err)
		}
		to := make(map[string][]any)
		destOf := make(map[string]string) // id -> the partition it moves to
		var ids []any
		for i := 0; i+4 < len(res); i += 5 {
			env, _ := res[i+2].(string)
			e, _ := decodeEnvelope(env) // unreadable: the facet "" decides
			dest := p.Names[partitionOf(e.facet, p.Count)]
			to[dest] = append(to[dest], res[i:i+5]...)
			id, _ := res[i].(string)
			destOf[id] = dest
			ids = append(ids, id)
		}
		for dest, letters := range to {
			args := append([]any{"import", b.cfg.DeadLetterCap}, letters...)
			n, err := b.runQueue(ctx, scriptDeadMove, dest, args...).Int64()
			if err != nil {
				return wrapRedis("move dead letters", err)
			}
			if n < 0 {
				return fmt.Errorf("%w %q: partition %s is gone", ErrUnknownQueue, queue, dest)
			}
		}
		missing, err := b.runQueue(ctx, scriptDeadMove, part, append([]any{"forget"}, ids...)...).StringSlice()
		if err != nil {
			return wrapRedis("move dead letters", err)
		}
		if err := b.takeBack(ctx, missing, destOf); err != nil {
			return err
		}
	}
}

// takeBack deletes the imported copies of dead letters that were requeued
// or purged in the old partition between their export and their forget
// there, so that each is in one place: where the requeue or purge put it.
func (b *Broker) takeBack(ctx context.Context, ids []string, destOf map[string]string) error {
	per := make(map[string][]any)
	for _, id := range ids {
		per[destOf[id]] = append(per[destOf[id]], id)
	}
	for dest, ids := range per {
		if err := b.runQueue(ctx, scriptDeadMove, dest, append([]any{"forget"}, ids...)...).Err(); err != nil {
			return wrapRedis("move dead letters", err)
		}
	}
	return nil
}
