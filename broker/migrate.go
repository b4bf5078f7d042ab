package broker

import (
	"context"
	"fmt"
)

// MigrateLayout moves a queue that a release before 0.2.0 wrote (key layout
// 1: its attempts and leases in the att and lease hashes) to this release's
// layout, on every partition, and returns once nothing of the old layout is
// left. A pull does the same on first use, before it pulls anything;
// MigrateLayout does it ahead of the workers, as `fairway migrate` does. One
// script call per partition moves it all: O(messages retried or in flight). Stop every worker of an older release first: its
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
		code, err := b.runQueue(ctx, scriptMigrate, part).Int64()
		if err != nil {
			return wrapRedis("migrate", err)
		}
		if code < 0 && part == queue {
			return fmt.Errorf("%w %q", ErrUnknownQueue, queue)
		}
	}
	return nil
}
