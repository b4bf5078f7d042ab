package main

import (
	"context"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// demo is the example's handler: it stands for real work by sleeping, and
// can count what it handled so that tests can find lost or repeated
// messages.
type demo struct {
	workTime time.Duration
	// rdb and recordKey, when recordKey is set, count each handled message
	// ID in the hash recordKey. A message routed to several queues has the
	// same ID in each, so it counts once per queue.
	rdb       redis.UniversalClient
	recordKey string
}

var _ worker.Handler = (*demo)(nil)

// Handle works for workTime, stopping early if ctx ends, then records the
// message. It records before returning nil, that is before the ack: a crash
// between the two runs the message again, which at-least-once delivery
// allows and the count shows.
func (d *demo) Handle(ctx context.Context, m *broker.Message) error {
	if d.workTime > 0 {
		t := time.NewTimer(d.workTime)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if d.recordKey == "" {
		return nil
	}
	if err := d.rdb.HIncrBy(ctx, d.recordKey, m.ID, 1).Err(); err != nil {
		return fmt.Errorf("record %s: %w", m.ID, err)
	}
	return nil
}
