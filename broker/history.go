package broker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/internal/brokerlink"
	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// History keeps per-minute counts of handled messages per queue, so that
// every dashboard sees the same throughput. Each minute of a queue is a hash
// "<ns>:{<queue>}:hist:<unix minute>" with fields "processed" and "failed",
// which expires HistoryRetention after the minute began.
const (
	// HistoryRetention is how long a minute of history is kept.
	HistoryRetention = 2 * time.Hour
	// MaxHistoryMinutes is the most minutes History returns.
	MaxHistoryMinutes = 120
)

// HistoryCounts is how many messages of a queue were handled.
type HistoryCounts struct {
	Processed int64 // handled successfully (acked)
	Failed    int64 // handlers returned an error (retried or dead-lettered)
}

// HistoryPoint is one minute of a queue's history.
type HistoryPoint struct {
	Minute time.Time // the start of the minute
	HistoryCounts
}

// histKey is "<ns>:{<queue>}:hist:<unix minute>".
func (k keyspace) histKey(queue string, minute int64) string {
	return k.queueKey(queue, keylayout.Hist+strconv.FormatInt(minute, 10))
}

// The worker counts what its handlers did and adds it to the history
// through internal/brokerlink: no other program writes history.
func init() { brokerlink.RegisterAddHistory(addHistory) }

// addHistory adds counts, by queue, to the minute that holds at, in one
// round trip (one per Redis Cluster node). The minute is by the caller's
// clock: a clock a few seconds off moves counts to a neighboring minute.
func addHistory(ctx context.Context, b *Broker, at time.Time, counts map[string]HistoryCounts) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	for q, c := range counts {
		if err := ValidateQueueName(q); err != nil {
			return err
		}
		if c.Processed < 0 || c.Failed < 0 {
			return fmt.Errorf("%w: negative history counts for queue %q", ErrInvalidArgument, q)
		}
	}
	minute := at.Unix() / 60
	// The expiry is a duration on the caller's clock, not a time: Redis
	// would read a time on its own clock, and one hours off would keep the
	// minute that much longer, or drop it at once.
	ttl := max(time.Until(time.Unix(minute*60, 0).Add(HistoryRetention)), time.Millisecond)
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for q, c := range counts {
			key := b.keys.histKey(q, minute)
			if c.Processed > 0 {
				p.HIncrBy(ctx, key, keylayout.FieldProcessed, c.Processed)
			}
			if c.Failed > 0 {
				p.HIncrBy(ctx, key, keylayout.FieldFailed, c.Failed)
			}
			p.PExpire(ctx, key, ttl)
		}
		return nil
	})
	return wrapRedis("add history", err)
}

// History returns queue's counts for the last minutes minutes up to the one
// that holds now, oldest first, one point per minute (zero where nothing was
// recorded). It reads them in one round trip.
func (b *Broker) History(ctx context.Context, queue string, now time.Time, minutes int) ([]HistoryPoint, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return nil, err
	}
	if minutes < 1 || minutes > MaxHistoryMinutes {
		return nil, fmt.Errorf("%w: history of %d minutes is outside [1, %d]", ErrInvalidArgument, minutes, MaxHistoryMinutes)
	}
	last := now.Unix() / 60
	cmds := make([]*redis.SliceCmd, minutes)
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HMGet(ctx, b.keys.histKey(queue, last-int64(minutes-1-i)), keylayout.FieldProcessed, keylayout.FieldFailed)
		}
		return nil
	})
	if err != nil {
		return nil, wrapRedis("read history", err)
	}
	out := make([]HistoryPoint, minutes)
	for i, c := range cmds {
		out[i] = HistoryPoint{
			Minute: time.Unix((last-int64(minutes-1-i))*60, 0),
			HistoryCounts: HistoryCounts{
				Processed: int64(intOr(c.Val()[0], 0)),
				Failed:    int64(intOr(c.Val()[1], 0)),
			},
		}
	}
	return out, nil
}

// clearHistory deletes queue's history: the keys of every minute that may
// still exist (by this process's clock, give or take five minutes). They
// share the queue's hash tag, so one DEL takes them all.
func (b *Broker) clearHistory(ctx context.Context, queue string) error {
	now := time.Now().Unix() / 60
	span := int64(HistoryRetention / time.Minute)
	keys := make([]string, 0, span+11)
	for m := now - span - 5; m <= now+5; m++ {
		keys = append(keys, b.keys.histKey(queue, m))
	}
	return wrapRedis("clear history", b.rdb.Del(ctx, keys...).Err())
}
