package broker

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"github.com/fairwayhq/fairway/internal/keylayout"
)

// RegisterQueue creates queue and routes to it every later delivery whose
// topic matches pattern, a Go regular expression matched anywhere in the
// topic (anchor it with ^ and $ to match whole topics). WithPartitions
// splits the queue into partitions.
//
// Registering a queue again with the pattern it has changes nothing and
// succeeds (with WithPartitions it changes only the count), so every
// process may register the queues it needs at start. A different pattern is
// refused with an error wrapping ErrPatternConflict that names both, and
// nothing changes: one process must not reroute another's queue by
// accident. Pass ReplacePattern to change the pattern on purpose. A queue
// that UnregisterQueue unrouted, or that Redis lost, takes any pattern.
func (b *Broker) RegisterQueue(ctx context.Context, name, pattern string, opts ...QueueOption) error {
	o, err := b.checkRegister(ctx, name, pattern, opts)
	if err != nil {
		return err
	}
	if err := b.loadRegistry(ctx); err != nil {
		return err
	}
	re, known, l := b.reg.queue(name)
	partitioned := l.count > 0
	// The scripts below check again, atomically; this only spares a
	// refused change its first writes.
	if known && re.String() != pattern && !o.replace {
		return patternConflict(name, re.String(), pattern)
	}
	current := l.partitioning(name)
	// The queue is listed (ListQueues) before it exists, so that no crash
	// leaves a queue that nothing lists.
	if err := b.recordQueue(ctx, name, "add"); err != nil {
		return err
	}
	if o.partitions > 1 && !partitioned && !known {
		// A new queue is made partitioned at once, unless it exists
		// unregistered and holds messages: then those drain.
		n, err := b.rdb.Exists(ctx, b.keys.queueKey(name, keylayout.Cfg)).Result()
		if err != nil {
			return wrapRedis("register queue", err)
		}
		if n == 0 {
			if err := b.repartition(ctx, name, pattern, current, o.partitions, true); err != nil {
				return err
			}
			return b.setRoute(ctx, name, pattern, o.replace)
		}
	}
	// The queue exists before the registry routes to it.
	for _, part := range current.Names {
		if err := b.createQueue(ctx, name, part, pattern, o.replace); err != nil {
			return err
		}
	}
	if err := b.setRoute(ctx, name, pattern, o.replace); err != nil {
		return err
	}
	if o.partitions == 0 {
		return nil
	}
	return b.repartition(ctx, name, pattern, current, o.partitions, false)
}

// ReplacePattern makes RegisterQueue change the pattern of a queue that is
// registered with another one, where it would otherwise refuse with
// ErrPatternConflict. Deliveries then follow the new pattern at once.
func ReplacePattern() QueueOption {
	return func(o *queueOptions) { o.replace = true }
}

// checkRegister validates RegisterQueue's arguments.
func (b *Broker) checkRegister(ctx context.Context, name, pattern string, opts []QueueOption) (queueOptions, error) {
	var o queueOptions
	if err := checkQueue(ctx, name); err != nil {
		return o, err
	}
	for _, opt := range opts {
		if opt == nil {
			return o, fmt.Errorf("%w: nil queue option", ErrInvalidArgument)
		}
		opt(&o)
	}
	if o.partitions != 0 && (o.partitions < 1 || o.partitions > MaxPartitions) {
		return o, fmt.Errorf("%w: %d partitions is outside [1, %d]", ErrInvalidArgument, o.partitions, MaxPartitions)
	}
	if err := validName(ErrInvalidPattern, "pattern", pattern); err != nil {
		return o, err
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return o, fmt.Errorf("%w: %w", ErrInvalidPattern, err)
	}
	return o, nil
}

// createQueue runs create_queue.lua on part, a partition of queue (or queue
// itself), which refuses a pattern other than part's unless replace.
func (b *Broker) createQueue(ctx context.Context, queue, part, pattern string, replace bool) error {
	v, err := b.runQueue(ctx, scriptCreateQueue, part, pattern, luaBool(replace)).Result()
	if err != nil {
		return wrapRedis("register queue", err)
	}
	if cur, refused := refusedPattern(v); refused {
		return patternConflict(queue, cur, pattern)
	}
	return nil
}

// refusedPattern reads a reply of create_queue.lua or registry.lua: {cur}
// when the script refused to replace the queue's pattern cur.
func refusedPattern(v any) (string, bool) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 1 {
		return "", false
	}
	cur, ok := arr[0].(string)
	return cur, ok
}

func patternConflict(queue, has, wanted string) error {
	return fmt.Errorf("%w: queue %q has pattern %#q, not %#q; pass broker.ReplacePattern() (fairway register --replace) to change it",
		ErrPatternConflict, queue, has, wanted)
}

// luaBool is a script's boolean argument: "1" or "".
func luaBool(v bool) string {
	if v {
		return "1"
	}
	return ""
}

// UnregisterQueue stops routing deliveries to queue. The messages it holds
// stay and can still be pulled; DestroyQueue deletes them.
func (b *Broker) UnregisterQueue(ctx context.Context, name string) error {
	if err := checkQueue(ctx, name); err != nil {
		return err
	}
	// The registry stops routing before the queue stops accepting.
	if err := b.setRoute(ctx, name, "", false); err != nil {
		return err
	}
	return b.eachPartition(ctx, name, func(part string) error {
		return wrapRedis("unregister queue", b.runQueue(ctx, scriptUnrouteQueue, part).Err())
	})
}

// DestroyQueue unregisters queue and deletes every message and setting it
// holds, and its throughput history. Idempotency keys are left to expire.
func (b *Broker) DestroyQueue(ctx context.Context, name string) error {
	if err := b.UnregisterQueue(ctx, name); err != nil {
		return err
	}
	err := b.eachPartition(ctx, name, func(part string) error {
		return wrapRedis("destroy queue", b.runQueue(ctx, scriptDestroyQueue, part).Err())
	})
	if err != nil {
		return err
	}
	if err := scriptPartitions.Run(ctx, b.rdb, b.keys.partitionsScriptKeys(), name, "delete").Err(); err != nil {
		return wrapRedis("destroy queue", err)
	}
	b.reg.invalidate()
	// Listed until its keys are gone (see RegisterQueue).
	if err := b.recordQueue(ctx, name, "forget"); err != nil {
		return err
	}
	return b.clearHistory(ctx, name)
}

// setRoute records name's pattern in the registry ("" removes it), which
// refuses a pattern other than the one recorded unless replace.
func (b *Broker) setRoute(ctx context.Context, name, pattern string, replace bool) error {
	keys := []string{b.keys.registry(), b.keys.registryVersion()}
	v, err := scriptRegistry.Run(ctx, b.rdb, keys, name, pattern, luaBool(replace)).Result()
	b.reg.invalidate()
	if err != nil {
		return wrapRedis("update registry", err)
	}
	if cur, refused := refusedPattern(v); refused {
		return patternConflict(name, cur, pattern)
	}
	return nil
}

// Queues returns the registered queues and their patterns. ListQueues
// lists the unregistered queues that still exist as well.
func (b *Broker) Queues(ctx context.Context) (map[string]string, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	m, err := b.rdb.HGetAll(ctx, b.keys.registry()).Result()
	return m, wrapRedis("list queues", err)
}

// QueueExists reports whether queue exists in Redis: registered, or
// unregistered but still holding its messages and settings (UnregisterQueue
// keeps them, so that they can be pulled). It is false for a queue never
// registered, destroyed, or lost with Redis's data: pulls of it fail with
// ErrUnknownQueue. A worker checks its queues with it at start.
func (b *Broker) QueueExists(ctx context.Context, name string) (bool, error) {
	if err := checkQueue(ctx, name); err != nil {
		return false, err
	}
	p, err := b.partitions(ctx, name, partitionsMaxAge)
	if err != nil {
		return false, err
	}
	ok, err := b.rdb.HExists(ctx, b.keys.queueKey(p.Names[0], keylayout.Cfg), keylayout.FieldLimit).Result()
	return ok, wrapRedis("check queue", err)
}

// loadRegistry reads the registry and its version at one instant (one
// script that only reads, not MULTI/EXEC: Redis refuses a transaction at
// maxmemory, and a broker that cannot load its registry cannot even ack)
// and replaces the cache.
func (b *Broker) loadRegistry(ctx context.Context) error {
	reply, err := scriptRegistryLoad.Run(ctx, b.rdb, b.keys.partitionsScriptKeys()).Slice()
	if err != nil {
		return wrapRedis("load registry", err)
	}
	all, ver, parts, ok := parseRegistryLoad(reply)
	if !ok {
		return fmt.Errorf("broker: load registry: unexpected reply %v", reply)
	}
	version, _ := strconv.ParseInt(ver, 10, 64)
	b.reg.load(version, all, parts, b.cfg.Logger)
	return nil
}

// parseRegistryLoad reads registry_load.lua's reply.
func parseRegistryLoad(reply []any) (all map[string]string, ver string, parts map[string]string, ok bool) {
	if len(reply) != 3 {
		return nil, "", nil, false
	}
	all, ok1 := flatMap(reply[0])
	ver, ok2 := reply[1].(string)
	parts, ok3 := flatMap(reply[2])
	return all, ver, parts, ok1 && ok2 && ok3
}

// flatMap turns an HGETALL array of field, value, ... into a map.
func flatMap(v any) (map[string]string, bool) {
	arr, ok := v.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, false
	}
	m := make(map[string]string, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, ok1 := arr[i].(string)
		val, ok2 := arr[i+1].(string)
		if !ok1 || !ok2 {
			return nil, false
		}
		m[k] = val
	}
	return m, true
}

// route routes each message to the queues whose patterns match its topic,
// to the partition of each that its facet maps to, loading the registry
// first if the cache is empty.
func (b *Broker) route(ctx context.Context, ps []prepared) (routing, error) {
	if !b.reg.fresh(0) {
		if err := b.loadRegistry(ctx); err != nil {
			return routing{}, err
		}
	}
	return b.reg.route(ps), nil
}
