package broker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// registryCache is a process's copy of the queue registry. Deliver checks its
// version against Redis in the same round trip that queues the message, so a
// RegisterQueue that has returned is seen by every later Deliver.
type registryCache struct {
	mu      sync.RWMutex
	loaded  bool
	version int64
	queues  map[string]*regexp.Regexp
	matches map[string][]string // topic -> queues, for this version
}

// maxCachedTopics bounds the topic -> queues cache.
const maxCachedTopics = 10000

// RegisterQueue creates queue, or changes its pattern, and routes to it every
// later delivery whose topic matches pattern, a Go regular expression matched
// anywhere in the topic (anchor it with ^ and $ to match whole topics).
func (b *Broker) RegisterQueue(ctx context.Context, name, pattern string) error {
	if err := checkQueue(ctx, name); err != nil {
		return err
	}
	if err := validName(ErrInvalidPattern, "pattern", pattern); err != nil {
		return err
	}
	if _, err := regexp.Compile(pattern); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPattern, err)
	}
	// The queue exists before the registry routes to it.
	if err := b.runQueue(ctx, scriptCreateQueue, name, pattern).Err(); err != nil {
		return wrapRedis("register queue", err)
	}
	return b.setRoute(ctx, name, pattern)
}

// UnregisterQueue stops routing deliveries to queue. The messages it holds
// stay and can still be pulled; DestroyQueue deletes them.
func (b *Broker) UnregisterQueue(ctx context.Context, name string) error {
	if err := checkQueue(ctx, name); err != nil {
		return err
	}
	// The registry stops routing before the queue stops accepting.
	if err := b.setRoute(ctx, name, ""); err != nil {
		return err
	}
	return wrapRedis("unregister queue", b.runQueue(ctx, scriptUnrouteQueue, name).Err())
}

// DestroyQueue unregisters queue and deletes every message and setting it
// holds, and its throughput history. Idempotency keys are left to expire.
func (b *Broker) DestroyQueue(ctx context.Context, name string) error {
	if err := b.UnregisterQueue(ctx, name); err != nil {
		return err
	}
	if err := b.runQueue(ctx, scriptDestroyQueue, name).Err(); err != nil {
		return wrapRedis("destroy queue", err)
	}
	return b.clearHistory(ctx, name)
}

func (b *Broker) setRoute(ctx context.Context, name, pattern string) error {
	keys := []string{b.keys.registry(), b.keys.registryVersion()}
	if err := scriptRegistry.Run(ctx, b.rdb, keys, name, pattern).Err(); err != nil {
		return wrapRedis("update registry", err)
	}
	b.reg.mu.Lock()
	b.reg.loaded = false
	b.reg.mu.Unlock()
	return nil
}

// Queues returns the registered queues and their patterns.
func (b *Broker) Queues(ctx context.Context) (map[string]string, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	m, err := b.rdb.HGetAll(ctx, b.keys.registry()).Result()
	return m, wrapRedis("list queues", err)
}

// loadRegistry reads the registry and its version in one transaction and
// replaces the cache.
func (b *Broker) loadRegistry(ctx context.Context) error {
	var all *redis.MapStringStringCmd
	var ver *redis.StringCmd
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, b.keys.registry())
		ver = p.Get(ctx, b.keys.registryVersion())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return wrapRedis("load registry", err)
	}
	version, _ := strconv.ParseInt(ver.Val(), 10, 64)
	queues := make(map[string]*regexp.Regexp, len(all.Val()))
	for name, pattern := range all.Val() {
		re, err := regexp.Compile(pattern)
		if err != nil {
			b.cfg.Logger.Warn("fairway: skipping queue with invalid pattern", "queue", name, "pattern", pattern, "err", err)
			continue
		}
		queues[name] = re
	}
	b.reg.mu.Lock()
	b.reg.loaded, b.reg.version, b.reg.queues = true, version, queues
	b.reg.matches = make(map[string][]string)
	b.reg.mu.Unlock()
	return nil
}

// routing says which queues each message of a batch goes to, and by which
// pattern of each queue: a queue refuses messages routed by a pattern it no
// longer has (see enqueue.lua).
type routing struct {
	version  int64             // of the registry the routes come from
	routes   [][]string        // per message, the queues it goes to
	patterns map[string]string // queue -> pattern it was routed by
}

func (r *routing) add(i int, queue, pattern string) {
	r.routes[i] = append(r.routes[i], queue)
	r.patterns[queue] = pattern
}

// route routes each topic to the queues whose patterns match it, loading
// the registry first if the cache is empty.
func (b *Broker) route(ctx context.Context, topics []string) (routing, error) {
	b.reg.mu.RLock()
	loaded := b.reg.loaded
	b.reg.mu.RUnlock()
	if !loaded {
		if err := b.loadRegistry(ctx); err != nil {
			return routing{}, err
		}
	}
	// Most deliveries go to topics routed before: the shared lock suffices
	// for them, so concurrent producers do not queue up on the cache.
	b.reg.mu.RLock()
	r, ok := b.reg.cachedRouting(topics)
	b.reg.mu.RUnlock()
	if ok {
		return r, nil
	}
	b.reg.mu.Lock()
	defer b.reg.mu.Unlock()
	r = routing{version: b.reg.version, routes: make([][]string, len(topics)), patterns: make(map[string]string)}
	for i, t := range topics {
		for _, q := range b.reg.matchLocked(t) {
			r.add(i, q, b.reg.queues[q].String())
		}
	}
	return r, nil
}

// cachedRouting routes topics from the match cache alone; ok is false when
// a topic is not in it. The caller holds mu, shared or not.
func (r *registryCache) cachedRouting(topics []string) (routing, bool) {
	out := routing{version: r.version, routes: make([][]string, len(topics)), patterns: make(map[string]string)}
	for i, t := range topics {
		qs, ok := r.matches[t]
		if !ok {
			return routing{}, false
		}
		for _, q := range qs {
			out.add(i, q, r.queues[q].String())
		}
	}
	return out, true
}

func (r *registryCache) matchLocked(topic string) []string {
	if qs, ok := r.matches[topic]; ok {
		return qs
	}
	var qs []string
	for name, re := range r.queues {
		if re.MatchString(topic) {
			qs = append(qs, name)
		}
	}
	if len(r.matches) >= maxCachedTopics {
		clear(r.matches)
	}
	r.matches[topic] = qs
	return qs
}
