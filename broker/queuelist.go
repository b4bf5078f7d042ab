package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// QueueInfo is one queue that exists in Redis, routed or not: what
// ListQueues returns, so that a queue that was unregistered while it still
// held messages stays visible until it is destroyed.
type QueueInfo struct {
	// Name is the queue's name (a partitioned queue is listed once).
	Name string
	// Pattern is the pattern deliveries are routed by; "" when unrouted.
	Pattern string
	// Routed tells whether the queue is registered, so that deliveries
	// reach it.
	Routed bool
	// Partitions is the number of partitions new messages are spread
	// over; 1 for a queue that is not partitioned.
	Partitions int
	// Messages counts the messages the queue holds in every state (ready,
	// in flight, delayed and dead), over its partitions.
	Messages int64
}

// ListQueues returns every queue that exists, sorted by name: the routed
// ones (Queues) and those unregistered that keep their messages and
// settings until DestroyQueue. It reads a list of queues that
// RegisterQueue and DestroyQueue keep in the registry, so no call scans
// the keyspace, but for one: the first ListQueues of a namespace scans it
// once (SCAN, on every master of a Cluster) for the queues made before
// that list was kept, and records that it did. Its cost is O(queues).
func (b *Broker) ListQueues(ctx context.Context) ([]QueueInfo, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	known, err := b.rdb.HGetAll(ctx, b.keys.known()).Result()
	if err != nil {
		return nil, wrapRedis("list queues", err)
	}
	if _, ok := known[knownScanned]; !ok {
		if known, err = b.scanKnown(ctx); err != nil {
			return nil, err
		}
	}
	if err := b.loadRegistry(ctx); err != nil {
		return nil, err
	}
	routes, err := b.Queues(ctx)
	if err != nil {
		return nil, err
	}
	layouts := b.reg.allLayouts()
	names := make(map[string]bool)
	for _, m := range []map[string]string{known, routes} {
		for name := range m {
			names[name] = true
		}
	}
	for name := range layouts {
		names[name] = true
	}
	delete(names, knownScanned)
	return b.queueInfos(ctx, slices.Sorted(maps.Keys(names)), routes, layouts)
}

// queueInfos reads, in one pipeline, whether each of names exists and how
// many messages it holds, over its partitions. A name listed but without a
// queue (destroyed meanwhile, or a RegisterQueue that stopped before the
// queue was made) is left out.
func (b *Broker) queueInfos(ctx context.Context, names []string, routes map[string]string, layouts map[string]layout) ([]QueueInfo, error) {
	type probe struct {
		cfg  *redis.BoolCmd
		msgs *redis.IntCmd
	}
	probes := make([][]probe, len(names))
	parts := make([]Partitioning, len(names))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, name := range names {
			parts[i] = layouts[name].partitioning(name)
			for _, part := range parts[i].all() {
				probes[i] = append(probes[i], probe{
					cfg:  p.HExists(ctx, b.keys.queueKey(part, keylayout.Cfg), keylayout.FieldLimit),
					msgs: p.HLen(ctx, b.keys.queueKey(part, keylayout.Msgs)),
				})
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrapRedis("list queues", err)
	}
	out := []QueueInfo{}
	for i, name := range names {
		pattern, routed := routes[name]
		info := QueueInfo{Name: name, Pattern: pattern, Routed: routed, Partitions: parts[i].Count}
		exists := routed
		for _, pr := range probes[i] {
			exists = exists || pr.cfg.Val()
			info.Messages += pr.msgs.Val()
		}
		if exists {
			out = append(out, info)
		}
	}
	return out, nil
}

// scanKnown finds the queues of the namespace made before the registry kept
// its list of queues, by their cfg keys, adds them to the list and records
// that it did, once per namespace. It returns the list.
func (b *Broker) scanKnown(ctx context.Context) (map[string]string, error) {
	// Namespaces and queue names hold no glob character.
	match := b.keys.ns + ":{*}:cfg"
	var mu sync.Mutex
	found := make(map[string]bool)
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, match, scanCount).Iterator()
		for it.Next(ctx) {
			name := strings.TrimSuffix(strings.TrimPrefix(it.Val(), b.keys.ns+":{"), "}:"+keylayout.Cfg)
			// A facet key can match too ("...:f:x}:cfg"): its "name"
			// holds characters no queue name does.
			if q := logicalQueue(name); ValidateQueueName(q) == nil {
				mu.Lock()
				found[q] = true
				mu.Unlock()
			}
		}
		return it.Err()
	}
	var err error
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, b.rdb)
	}
	if err != nil {
		return nil, wrapRedis("list queues: find queues made before the list of queues", err)
	}
	for _, q := range slices.Sorted(maps.Keys(found)) {
		if err := b.recordQueue(ctx, q, "add"); err != nil {
			return nil, err
		}
	}
	if err := b.recordQueue(ctx, knownScanned, "add"); err != nil {
		return nil, err
	}
	known, err := b.rdb.HGetAll(ctx, b.keys.known()).Result()
	return known, wrapRedis("list queues", err)
}

// scanCount is the COUNT of each SCAN of scanKnown: how many keys Redis
// looks at per call, so that no call blocks it for long.
const scanCount = 1000

// recordQueue adds queue to the registry's list of queues (op "add"), or
// removes it ("forget"), with a script: a producer or worker user whose ACL
// allows scripts needs no other command for it.
func (b *Broker) recordQueue(ctx context.Context, queue, op string) error {
	err := scriptKnown.Run(ctx, b.rdb, []string{b.keys.known()}, queue, op).Err()
	return wrapRedis("record queue", err)
}
