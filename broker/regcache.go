package broker

import (
	"log/slog"
	"maps"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// registryCache is a process's copy of the queue registry: the queues'
// patterns, compiled, their partitionings with the partitions' names, and
// the queues each topic routed so far matched. Deliver checks its version
// against Redis in the same round trip that queues the message, so a
// RegisterQueue that has returned is seen by every later Deliver.
//
// It owns its lock. Everything a delivery needs of a queue is computed when
// the registry loads, so routing a topic seen before takes the shared lock
// only; the exclusive lock is taken to replace the registry, to forget it,
// and to store the matches of topics not seen before.
type registryCache struct {
	mu       sync.RWMutex
	loaded   bool
	loadedAt time.Time
	version  int64
	queues   map[string]*regexp.Regexp
	layouts  map[string]layout   // partitioned queues, names filled in
	matches  map[string][]string // topic -> queues, for this version
}

// maxCachedTopics bounds the topic -> queues cache.
const maxCachedTopics = 10000

// load replaces the cache with a registry read at one instant: its version,
// queue -> pattern, and queue -> layout as the registry records it. Queues
// whose pattern or layout cannot be read are skipped with a warning. The
// partitions' names are computed here, once per load; names of a layout
// the cache held before are reused.
func (r *registryCache) load(version int64, patterns, parts map[string]string, log *slog.Logger) {
	queues := make(map[string]*regexp.Regexp, len(patterns))
	for name, pattern := range patterns {
		re, err := regexp.Compile(pattern)
		if err != nil {
			log.Warn("fairway: skipping queue with invalid pattern", "queue", name, "pattern", pattern, "err", err)
			continue
		}
		queues[name] = re
	}
	layouts := make(map[string]layout, len(parts))
	for q, v := range parts {
		l, ok := parseLayout(v)
		if !ok {
			log.Warn("fairway: skipping unreadable partitioning", "queue", q, "value", v)
			continue
		}
		layouts[q] = l
	}
	r.mu.RLock()
	prev := r.layouts
	r.mu.RUnlock()
	for q, l := range layouts {
		if p, ok := prev[q]; ok && p.gen == l.gen && p.count == l.count {
			l.names = p.names
		} else {
			l.names = partitionNames(q, l.gen, max(l.count, 1))
		}
		layouts[q] = l
	}
	r.mu.Lock()
	r.loaded, r.version, r.queues, r.layouts = true, version, queues, layouts
	r.loadedAt = time.Now()
	r.matches = make(map[string][]string)
	r.mu.Unlock()
}

// invalidate makes the next lookup reload the registry.
func (r *registryCache) invalidate() {
	r.mu.Lock()
	r.loaded = false
	r.mu.Unlock()
}

// fresh reports whether the cache is loaded and at most maxAge old (any age
// when maxAge is 0).
func (r *registryCache) fresh(maxAge time.Duration) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.loaded && (maxAge == 0 || time.Since(r.loadedAt) <= maxAge)
}

// queue returns queue's compiled pattern, if it is routed, and its layout
// (the zero layout for a queue never partitioned).
func (r *registryCache) queue(name string) (*regexp.Regexp, bool, layout) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	re, ok := r.queues[name]
	return re, ok, r.layouts[name]
}

// allLayouts returns a copy of the partitioned queues' layouts.
func (r *registryCache) allLayouts() map[string]layout {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return maps.Clone(r.layouts)
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

// route routes each message to the queues whose patterns match its topic,
// to the partition of each that its facet maps to. The cache must have
// been loaded once; a cache forgotten since still routes, by the registry
// it holds (the send checks the version, and reroutes).
//
// Most deliveries go to topics routed before: the shared lock suffices for
// them, so concurrent producers do not queue up on the cache. A new topic
// is matched against a snapshot of the patterns with no lock held (a long
// pattern can take milliseconds per topic), and the exclusive lock only
// stores the result.
func (r *registryCache) route(ps []prepared) routing {
	for range maxRouteTries {
		r.mu.RLock()
		out, ok := r.cachedRouting(ps)
		var queues map[string]*regexp.Regexp
		var missing []string
		if !ok {
			queues, missing = r.queues, r.missing(ps)
		}
		r.mu.RUnlock()
		if ok {
			return out
		}
		found := matchNew(queues, missing)
		r.mu.Lock()
		out, ok = r.storeRouting(queues, found, ps)
		r.mu.Unlock()
		if ok {
			return out
		}
	}
	// The registry was reloaded under every try: match under the lock.
	r.mu.Lock()
	defer r.mu.Unlock()
	out := routing{version: r.version, routes: make([][]string, len(ps)), patterns: make(map[string]string)}
	for i := range ps {
		for _, q := range r.matchLocked(ps[i].topic) {
			out.add(i, r.placeLocked(q, ps[i].facet), r.queues[q].String())
		}
	}
	return out
}

// maxRouteTries bounds how often route matches new topics outside the lock
// before it gives up on a registry that reloads under it.
const maxRouteTries = 3

// testMatchHook, when a test sets it, runs while route matches new topics,
// to show which locks are held then.
var testMatchHook atomic.Pointer[func()]

// missing lists the topics of ps, once each, that the match cache lacks.
// The caller holds mu, shared or not.
func (r *registryCache) missing(ps []prepared) []string {
	var out []string
	seen := make(map[string]bool)
	for i := range ps {
		t := ps[i].topic
		if _, ok := r.matches[t]; !ok && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// matchNew matches topics against queues, a snapshot of the registry's
// patterns (load replaces the map and never changes one), with no lock
// held. A topic another delivery routes at the same time is matched twice;
// that costs time, not correctness.
func matchNew(queues map[string]*regexp.Regexp, topics []string) map[string][]string {
	if hook := testMatchHook.Load(); hook != nil {
		(*hook)()
	}
	found := make(map[string][]string, len(topics))
	for _, t := range topics {
		var qs []string
		for name, re := range queues {
			if re.MatchString(t) {
				qs = append(qs, name)
			}
		}
		found[t] = qs
	}
	return found
}

// storeRouting caches the matches found against the snapshot queues and
// routes ps by them; ok is false, and nothing is stored, when the registry
// was reloaded since the snapshot. The caller holds mu exclusively.
func (r *registryCache) storeRouting(queues map[string]*regexp.Regexp, found map[string][]string, ps []prepared) (routing, bool) {
	if !r.sameQueues(queues) {
		return routing{}, false
	}
	if len(r.matches)+len(found) > maxCachedTopics {
		clear(r.matches)
	}
	for t, qs := range found {
		r.matches[t] = qs
	}
	out := routing{version: r.version, routes: make([][]string, len(ps)), patterns: make(map[string]string)}
	for i := range ps {
		qs, ok := found[ps[i].topic]
		if !ok { // cached before the snapshot, unless cleared since
			qs = r.matchLocked(ps[i].topic)
		}
		for _, q := range qs {
			out.add(i, r.placeLocked(q, ps[i].facet), r.queues[q].String())
		}
	}
	return out, true
}

// sameQueues reports whether queues is the registry's current set of
// compiled patterns: every load compiles new ones, so pointers tell a
// reload apart without matching anything. The caller holds mu.
func (r *registryCache) sameQueues(queues map[string]*regexp.Regexp) bool {
	if len(queues) != len(r.queues) {
		return false
	}
	for name, re := range queues {
		if r.queues[name] != re {
			return false
		}
	}
	return true
}

// cachedRouting routes messages from the match cache alone; ok is false
// when a topic is not in it. The caller holds mu, shared or not.
func (r *registryCache) cachedRouting(ps []prepared) (routing, bool) {
	out := routing{version: r.version, routes: make([][]string, len(ps)), patterns: make(map[string]string)}
	for i := range ps {
		qs, ok := r.matches[ps[i].topic]
		if !ok {
			return routing{}, false
		}
		for _, q := range qs {
			out.add(i, r.placeLocked(q, ps[i].facet), r.queues[q].String())
		}
	}
	return out, true
}

// matchLocked returns the queues topic matches, and caches them. The
// caller holds mu exclusively.
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

// placeLocked is the partition of queue that facet's deliveries go to,
// from the names computed at load. The caller holds mu, shared or not.
func (r *registryCache) placeLocked(queue, facet string) string {
	l, ok := r.layouts[queue]
	if !ok {
		return queue
	}
	return l.names[partitionOf(facet, l.count)]
}
