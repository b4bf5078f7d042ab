package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Broker delivers, queues and leases messages in Redis. It is safe for
// concurrent use; create one per process and share it.
type Broker struct {
	rdb  redis.UniversalClient
	cfg  Config
	keys keyspace
	reg  registryCache

	parts    partitionState
	ids      idSource
	coalesce coalescer
	unrouted unroutedWarnings // topics warned of reaching no queue
}

// New returns a Broker on rdb, which may be a standalone, Sentinel or Cluster
// client. It does not touch Redis; the first call that needs to does.
//
// On a *redis.ClusterClient, New adds a hook (once per client) that
// reloads the client's slot map when a command fails as it does while a
// master is down or being replaced, so that the client finds the promoted
// replica within a second rather than after go-redis's 60s reload
// interval (see docs/failover.md).
func New(rdb redis.UniversalClient, cfg Config) (*Broker, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: nil Redis client", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkReplicaClient(rdb, cfg); err != nil {
		return nil, err
	}
	watchFailover(rdb)
	b := &Broker{rdb: rdb, cfg: cfg, keys: keyspace{ns: cfg.Namespace}}
	b.coalesce.send = b.sendPrepared
	return b, nil
}

// Namespace is the prefix of the broker's keys and channels.
func (b *Broker) Namespace() string { return b.cfg.Namespace }

// Config is the broker's configuration, defaults filled in.
func (b *Broker) Config() Config { return b.cfg }

// Client is the Redis client the broker runs on.
func (b *Broker) Client() redis.UniversalClient { return b.rdb }

// runQueue runs a queue script on queue's keys with the wake channel as its
// first argument, loading the script again if the server lost it. A script
// that takes a replay marker gets one, and runs under the replay bound
// (replay.go).
func (b *Broker) runQueue(ctx context.Context, s *redis.Script, queue string, args ...any) *redis.Cmd {
	c := b.queueCall(s, queue, args...)
	if len(c.keys) > 1 {
		var cancel context.CancelFunc
		ctx, cancel = b.bounded(ctx)
		defer cancel()
	}
	return s.Run(ctx, b.rdb, c.keys, c.args...)
}

// queueCall prepares a queue script call for a pipeline, with a replay
// marker for a script that takes one. A pipeline of such calls must run
// under b.bounded.
func (b *Broker) queueCall(s *redis.Script, queue string, args ...any) *scriptCall {
	if takesReplayMarker[s] {
		return b.replayCall(s, queue, args...)
	}
	return &scriptCall{
		script: s,
		keys:   []string{b.keys.queuePrefix(queue)},
		args:   append([]any{b.keys.wakeChannel(queue)}, args...),
	}
}

// checkQueue validates a queue name for a call that reads or changes a queue.
func checkQueue(ctx context.Context, queue string) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	return ValidateQueueName(queue)
}

// wrapRedis adds what the broker was doing to an error from Redis; redis.Nil
// never leaves the package. Redis's OOM reply also wraps ErrRedisFull.
func wrapRedis(op string, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	if isOOM(err) {
		return fmt.Errorf("broker: %s: %w: %w", op, ErrRedisFull, err)
	}
	return fmt.Errorf("broker: %s: %w", op, err)
}

// isOOM reports whether err is Redis's reply to a write refused at maxmemory
// under noeviction: "OOM command not allowed when used memory > 'maxmemory'".
func isOOM(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "OOM ")
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
