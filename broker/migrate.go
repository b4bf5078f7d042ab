package broker

import (
	"context"
	"fmt"
)

// migrateStep is how many entries of the older layout one call moves: a
// bounded step, so that no call holds Redis for long.
const migrateStep = 1000

// MigrateLayout moves a queue that a release before 0.2.0 wrote (key layout
// 1: its attempts and leases in the att and lease hashes) to this release's
// layout, on every partition, and returns once nothing of the old layout is
// left. Pulls do the same on first use, a bounded step at a time, pulling
// nothing until it is done; MigrateLayout does it ahead of the workers, as
// `fairway migrate` does. Stop every worker of an older release first: its
// acks would no longer match the leases. Running it again does nothing.
func (b *Broker) MigrateLayout(ctx context.Context, queue string) error {
	if err := ValidateQueueName(queue); err != nil {
		return err
	}
	st, err := b.layoutState(ctx, queue)
	if err != nil {
		return err
	}
	p, err := st.partitioning("migrate", queue)
	if err != nil {
		return err
	}
	for _, part := range p.all() {
		for {
			code, err := b.runQueue(ctx, scriptMigrate, part, migrateStep).Int64()
			if err != nil {
				return wrapRedis("migrate", err)
			}
			if code < 0 {
				if part == queue {
					return fmt.Errorf("%w %q", ErrUnknownQueue, queue)
				}
				break // a draining partition already gone
			}
			if code == 1 {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
