package testutil

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// This file checks the invariants of one broker queue by reading its keys
// directly. It follows the key table of internal/keylayout (the layout the
// scripts and broker/doc.go are generated from), and deliberately does not
// import the broker, so that the broker's own tests can use it.

// legacyKinds are the suffixes of keys of an older layout, which a queue of
// this one must not hold.
var legacyKinds = func() map[string]bool {
	m := make(map[string]bool)
	for _, k := range keylayout.Queue {
		if k.Legacy {
			m[k.Suffix] = true
		}
	}
	return m
}()

// queueKinds is the type of each key of a queue that is one key, not a
// family, by its suffix.
var queueKinds = func() map[string]keylayout.Type {
	m := make(map[string]keylayout.Type)
	for _, k := range keylayout.Queue {
		if k.Var == "" {
			m[k.Suffix] = k.Type
		}
	}
	return m
}()

// QueueState is a snapshot of every key of one broker queue, as read by
// ReadQueue. Hash values are kept as Redis returned them, so that Check
// can report malformed ones; sorted sets are in Redis's order (score, then
// member).
type QueueState struct {
	Namespace string
	Queue     string
	// Prefix is "<ns>:{<queue>}:", the prefix of every key of the queue.
	Prefix string

	Cfg      map[string]string // nil when the cfg hash does not exist
	Ring     []string
	Tokens   map[string]string
	Prio     map[string]string
	Inflight map[string]string
	// Limits holds facets' own in-flight limits.
	Limits map[string]string
	// Active is the set of facets with ready messages; Deep ranks those
	// with keylayout.DeepBacklog or more.
	Active []string
	Deep   []redis.Z
	// Facets maps each facet with a list key to its ready IDs, oldest first.
	Facets map[string][]string
	// Msgs maps message IDs to envelopes; Att the IDs of messages not
	// leased now to their deliveries so far (the "@<ID>" fields of msgs).
	Msgs map[string]string
	Att  map[string]string
	// Leased holds the leases, "<ID>|<token>|<attempt>|<facet>", by deadline.
	Leased  []redis.Z
	Delayed []redis.Z
	Dead    []redis.Z
	DeadErr map[string]string
	Seq     string // "" when the counter does not exist
	// Rates holds facets' own rate limits; Parked the facets whose rate
	// limit holds back their turn, scored by when it frees them; Tat the
	// GCRA arrival times.
	Rates  map[string]string
	Parked []redis.Z
	Tat    []redis.Z
	// IdempotencyKeys counts the "u:<key>" keys; they are not checked.
	IdempotencyKeys int
	// ReplayMarkers counts the "r:<request ID>" keys; they are not
	// checked (each expires).
	ReplayMarkers int
	// Other lists keys under Prefix of no known kind.
	Other []string

	// readErrs are errors Redis answered for single keys, such as
	// WRONGTYPE for a key of the wrong type.
	readErrs []string
}

// InvariantError lists every invariant a queue breaks.
type InvariantError struct {
	Namespace, Queue string
	Violations       []string
}

// Error lists the violations, one a line.
func (e *InvariantError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue %q (namespace %q) breaks %d invariant(s):", e.Queue, e.Namespace, len(e.Violations))
	for _, v := range e.Violations {
		b.WriteString("\n  - ")
		b.WriteString(v)
	}
	return b.String()
}

// CheckQueue reads every key of the broker queue named queue under
// namespace and checks the invariants the broker's scripts maintain. It
// returns nil when they all hold, an *InvariantError listing every
// violation, or the error that kept it from reading the keys. See
// QueueState.Check for what is checked.
//
// The keys are read in one MULTI/EXEC after a SCAN for the facet lists, so
// the queue should be quiescent while it runs: a script that creates a
// facet list between the two may be missed.
func CheckQueue(ctx context.Context, rdb redis.UniversalClient, namespace, queue string) error {
	s, err := ReadQueue(ctx, rdb, namespace, queue)
	if err != nil {
		return err
	}
	return s.Check()
}

// RequireQueueInvariants fails t with t.Fatal, with a report of every
// violation and a dump of the queue's keys, unless CheckQueue passes.
func RequireQueueInvariants(t testing.TB, rdb redis.UniversalClient, namespace, queue string) {
	t.Helper()
	s, err := ReadQueue(t.Context(), rdb, namespace, queue)
	if err != nil {
		t.Fatalf("testutil: read queue %q: %v", queue, err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("%v\n%s", err, s.Dump(20))
	}
}

// ReadQueue reads every key of a broker queue. Facet lists are found with
// SCAN over the queue's prefix, so facet names with glob characters are
// handled like any other.
func ReadQueue(ctx context.Context, rdb redis.UniversalClient, namespace, queue string) (*QueueState, error) {
	s := &QueueState{Namespace: namespace, Queue: queue, Prefix: namespace + ":{" + queue + "}:"}
	var node redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		// Every key of the queue shares its hash tag, so one node holds
		// them all; SCAN on the cluster client would visit a random one.
		n, err := cc.MasterForKey(ctx, s.Prefix+keylayout.Cfg)
		if err != nil {
			return nil, fmt.Errorf("testutil: find the node of queue %q: %w", queue, err)
		}
		node = n
	}

	var facets []string
	iter := node.Scan(ctx, 0, GlobEscape(s.Prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rest := strings.TrimPrefix(iter.Val(), s.Prefix)
		switch {
		case strings.HasPrefix(rest, keylayout.Facet):
			facets = append(facets, strings.TrimPrefix(rest, keylayout.Facet))
		case strings.HasPrefix(rest, keylayout.Idem):
			s.IdempotencyKeys++
		case strings.HasPrefix(rest, keylayout.Replay):
			s.ReplayMarkers++
		case strings.HasPrefix(rest, keylayout.Hist):
		case queueKinds[rest] == "":
			s.Other = append(s.Other, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("testutil: scan queue %q: %w", queue, err)
	}
	slices.Sort(facets)
	facets = slices.Compact(facets) // SCAN may return a key twice
	slices.Sort(s.Other)
	s.Other = slices.Compact(s.Other)

	k := func(kind string) string { return s.Prefix + kind }
	var (
		cfg, tokens, prio, inflight, limits, msgs, deadErr, rates *redis.MapStringStringCmd
		ring, active                                              *redis.StringSliceCmd
		deep, leased, delayed, dead, parked, tat                  *redis.ZSliceCmd
		seq                                                       *redis.StringCmd
		lists                                                     = make([]*redis.StringSliceCmd, len(facets))
		kinds                                                     = slices.Sorted(maps.Keys(queueKinds))
		types                                                     = make([]*redis.StatusCmd, len(kinds))
	)
	cmds, err := node.TxPipelined(ctx, func(p redis.Pipeliner) error {
		cfg = p.HGetAll(ctx, k(keylayout.Cfg))
		ring = p.LRange(ctx, k(keylayout.Ring), 0, -1)
		tokens = p.HGetAll(ctx, k(keylayout.Tokens))
		prio = p.HGetAll(ctx, k(keylayout.Prio))
		inflight = p.HGetAll(ctx, k(keylayout.Inflight))
		limits = p.HGetAll(ctx, k(keylayout.Limits))
		active = p.SMembers(ctx, k(keylayout.Active))
		deep = p.ZRangeWithScores(ctx, k(keylayout.Deep), 0, -1)
		msgs = p.HGetAll(ctx, k(keylayout.Msgs))
		leased = p.ZRangeWithScores(ctx, k(keylayout.Leased), 0, -1)
		delayed = p.ZRangeWithScores(ctx, k(keylayout.Delayed), 0, -1)
		dead = p.ZRangeWithScores(ctx, k(keylayout.Dead), 0, -1)
		deadErr = p.HGetAll(ctx, k(keylayout.DeadErr))
		seq = p.Get(ctx, k(keylayout.Seq))
		rates = p.HGetAll(ctx, k(keylayout.Rates))
		parked = p.ZRangeWithScores(ctx, k(keylayout.Parked), 0, -1)
		tat = p.ZRangeWithScores(ctx, k(keylayout.Tat), 0, -1)
		for i, f := range facets {
			lists[i] = p.LRange(ctx, k(keylayout.Facet+f), 0, -1)
		}
		for i, kind := range kinds {
			types[i] = p.Type(ctx, k(kind))
		}
		return nil
	})
	if err != nil && !isReplyError(err) {
		return nil, fmt.Errorf("testutil: read queue %q: %w", queue, err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			if !isReplyError(err) {
				return nil, fmt.Errorf("testutil: read queue %q: %w", queue, err)
			}
			s.readErrs = append(s.readErrs, fmt.Sprintf("%v: %v", c.Args(), err))
		}
	}

	for i, kind := range kinds {
		switch t := types[i].Val(); {
		case t != "none" && legacyKinds[kind]:
			s.readErrs = append(s.readErrs, fmt.Sprintf("key %q of an older layout is still there (fairway migrate moves it)", k(kind)))
		case t != "none" && t != string(queueKinds[kind]):
			s.readErrs = append(s.readErrs, fmt.Sprintf("key %q is a %s; the key table says %s", k(kind), t, queueKinds[kind]))
		}
	}
	if len(cfg.Val()) > 0 {
		s.Cfg = cfg.Val()
	}
	s.Ring = ring.Val()
	s.Tokens, s.Prio, s.Inflight = orEmpty(tokens.Val()), orEmpty(prio.Val()), orEmpty(inflight.Val())
	s.Limits = orEmpty(limits.Val())
	s.Msgs, s.Att = splitAttempts(orEmpty(msgs.Val()))
	s.DeadErr = orEmpty(deadErr.Val())
	s.Active, s.Deep = slices.Sorted(slices.Values(active.Val())), deep.Val()
	s.Leased, s.Delayed, s.Dead = leased.Val(), delayed.Val(), dead.Val()
	s.Seq = seq.Val()
	s.Rates, s.Parked, s.Tat = orEmpty(rates.Val()), parked.Val(), tat.Val()
	s.Facets = make(map[string][]string, len(facets))
	for i, f := range facets {
		if lists[i].Err() == nil {
			s.Facets[f] = lists[i].Val()
		}
	}
	return s, nil
}

// splitAttempts splits the fields of msgs into envelopes by ID and the
// deliveries so far by ID (the fields "@<ID>").
func splitAttempts(msgs map[string]string) (envs, att map[string]string) {
	envs, att = make(map[string]string, len(msgs)), make(map[string]string)
	for f, v := range msgs {
		if id, ok := strings.CutPrefix(f, keylayout.FieldAttemptsPrefix); ok {
			att[id] = v
		} else {
			envs[f] = v
		}
	}
	return envs, att
}

// A Lease is a member of leased, "<ID>|<token>|<attempt>|<facet>".
type Lease struct {
	ID, Token, Facet string
	Attempt          int64
}

// ParseLease reads a member of leased; ok is false for one of another
// shape.
func ParseLease(v string) (l Lease, ok bool) {
	parts := strings.SplitN(v, "|", 4)
	if len(parts) != 4 || parts[0] == "" || parts[3] == "" {
		return Lease{}, false
	}
	n, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Lease{}, false
	}
	return Lease{ID: parts[0], Token: parts[1], Attempt: n, Facet: parts[3]}, true
}

// Leases are the snapshot's readable leases, by message ID.
func (s *QueueState) Leases() map[string]Lease {
	out := make(map[string]Lease, len(s.Leased))
	for _, z := range s.Leased {
		if l, ok := ParseLease(member(z)); ok {
			out[l.ID] = l
		}
	}
	return out
}

// isReplyError tells an error answered by Redis about one command (such as
// WRONGTYPE) from a failure to talk to Redis at all.
func isReplyError(err error) bool {
	var re redis.Error // redis.Nil is one too
	return errors.As(err, &re)
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// GlobEscape escapes the characters that are special in a Redis glob
// pattern (* ? [ ] \), so that s matches only itself in SCAN MATCH, KEYS or
// PSUBSCRIBE.
func GlobEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// EnvelopeFacet reads the facet from a stored envelope,
// "2<len>:<facet><attempts>:...", "3<len>:<facet><attempts>:<deadline>:..."
// or "1<len>:<facet>...", as the scripts do. ok is false when the envelope
// is unreadable.
func EnvelopeFacet(env string) (facet string, ok bool) {
	if len(env) == 0 || env[0] != '1' && env[0] != '2' && env[0] != '3' {
		return "", false
	}
	colon := strings.IndexByte(env[1:], ':')
	if colon < 1 {
		return "", false
	}
	n, err := strconv.Atoi(env[1 : 1+colon])
	start := 2 + colon
	if err != nil || n < 0 || n > len(env)-start {
		return "", false
	}
	return env[start : start+n], true
}

// Check returns nil when the snapshot keeps every invariant of a queue, or
// an *InvariantError listing each violation:
//
//   - the queue exists (cfg holds an integer limit >= 0), and no key under
//     its prefix is of an unknown kind or the wrong type;
//   - every message in msgs is in exactly one place: ready in one facet
//     list, leased, delayed or dead; no ID is in two places or twice in a
//     list; every ID in a place has a body in msgs; a ready or leased
//     message is in the facet its envelope names;
//   - each lease in leased is "<ID>|<token>|<attempt>|<facet>" with a
//     distinct token "<n>-<salt>", n no greater than seq, an attempt >= 1
//     and the facet of its envelope; a leased message has no attempts field
//     in msgs (the lease holds them); under an in-flight limit (the
//     queue's, a facet's own, or strict order) inflight holds, per facet,
//     the number of its leases, and under strict order of its delayed
//     retries too (delayed messages with an attempts field), with no zero,
//     negative or spare fields, and without one it is empty; cfg.limits is
//     set exactly when limits holds a facet's own limit, an integer >= 0;
//     no key of an older layout (att, lease, backlog) is left;
//   - active holds exactly the facets with a non-empty list; deep holds
//     exactly those with keylayout.DeepBacklog ready messages or more,
//     each scored by a whole number in the same multiple of DeepBacklog
//     as its list's length;
//   - tokens holds, per facet, its occurrences in the ring (positive
//     integers only); priorities are integers >= 0;
//   - a facet holds no more tokens than its priority (so a paused facet
//     holds none) and no more than its ready messages (so a drained facet
//     holds none); tokens of a facet at its in-flight limit are allowed,
//     the pull drops them when they come up;
//   - every facet with ready messages, priority > 0 and fewer in flight
//     than its limit (its own, else the queue's; 1 under strict order) has at least one token in the ring, or its turn is parked
//     (held back by its rate limit until the time it is scored with), or
//     it would never be pulled;
//   - rate limits are "<n>:<period ms>:<burst>" with n, period, burst >= 1
//     (a facet's own may be "0", none); cfg.rated is set exactly when a
//     default, a facet's own or the queue's own limit (cfg.qrate) is; without it, nothing is parked and
//     no arrival time is kept; cfg.layers is set exactly when one of
//     limits, ordered, cap, qrate, ttl or admit is;
//   - attempts fields of msgs ("@<ID>") only name IDs in msgs, with
//     positive integers; deaderr holds
//     exactly the dead IDs.
func (s *QueueState) Check() error {
	if v := s.Violations(); len(v) > 0 {
		return &InvariantError{Namespace: s.Namespace, Queue: s.Queue, Violations: v}
	}
	return nil
}

// Violations lists what Check reports, one sentence each.
func (s *QueueState) Violations() []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	out = append(out, s.readErrs...)
	for _, key := range s.Other {
		bad("key %q under the queue's prefix is of no known kind", key)
	}

	limit := int64(0)
	if s.Cfg == nil {
		bad("the queue does not exist: no cfg hash at %q", s.Prefix+keylayout.Cfg)
	} else if v, ok := s.Cfg[keylayout.FieldLimit]; !ok {
		bad("cfg has no limit field")
	} else if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
		bad("cfg limit %q is not an integer >= 0", v)
	} else {
		limit = n
	}

	// Places: every ID must be in exactly one. A place is "ready" in a
	// facet, "leased", "delayed" or "dead".
	type place struct{ kind, facet string }
	places := make(map[string][]place, len(s.Msgs))
	for _, f := range sortedKeys(s.Facets) {
		for _, id := range s.Facets[f] {
			places[id] = append(places[id], place{"ready", f})
		}
	}
	for _, z := range s.Leased {
		id := member(z)
		if l, ok := ParseLease(id); ok {
			id = l.ID
		}
		places[id] = append(places[id], place{kind: keylayout.Leased})
	}
	for kind, zs := range map[string][]redis.Z{keylayout.Delayed: s.Delayed, keylayout.Dead: s.Dead} {
		for _, z := range zs {
			places[member(z)] = append(places[member(z)], place{kind: kind})
		}
	}
	describe := func(ps []place) string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.kind
			if p.kind == "ready" {
				out[i] = fmt.Sprintf("ready in facet %q", p.facet)
			}
		}
		slices.Sort(out)
		return strings.Join(out, ", ")
	}
	for _, id := range sortedKeys(places) {
		ps := places[id]
		if len(ps) > 1 {
			bad("message %q is in %d places: %s", id, len(ps), describe(ps))
		}
		if _, ok := s.Msgs[id]; !ok {
			bad("message %q is %s but has no body in msgs", id, describe(ps))
		}
	}
	for _, id := range sortedKeys(s.Msgs) {
		if len(places[id]) == 0 {
			bad("message %q has a body in msgs but is in no place (not ready, leased, delayed or dead): it is lost", id)
		}
	}
	for _, f := range sortedKeys(s.Facets) {
		for _, id := range s.Facets[f] {
			if ef, ok := EnvelopeFacet(s.Msgs[id]); ok && ef != f {
				bad("message %q is ready in facet %q but its envelope names facet %q", id, f, ef)
			}
		}
	}

	// Leases.
	seq, seqErr := strconv.ParseInt(s.Seq, 10, 64)
	if s.Seq != "" && seqErr != nil {
		bad("seq %q is not an integer", s.Seq)
	}
	leasesOf := make(map[string]int64)
	tokenOwner := make(map[string]string)
	for _, z := range s.Leased {
		l, ok := ParseLease(member(z))
		if !ok {
			bad("lease %q is not \"<ID>|<token>|<attempt>|<facet>\"", member(z))
			continue
		}
		id, token, facet := l.ID, l.Token, l.Facet
		seqPart, salt, _ := strings.Cut(token, "-")
		n, err := strconv.ParseInt(seqPart, 10, 64)
		switch {
		case err != nil || n < 1 || salt == "":
			bad("lease of %q has token %q, not \"<positive integer>-<salt>\"", id, token)
		case s.Seq == "" || seqErr == nil && n > seq:
			bad("lease of %q has token %d, beyond the seq counter %q", id, n, s.Seq)
		}
		if other, dup := tokenOwner[token]; dup {
			bad("messages %q and %q hold the same lease token %q", other, id, token)
		}
		tokenOwner[token] = id
		if ef, ok := EnvelopeFacet(s.Msgs[id]); ok && ef != facet {
			bad("lease of %q names facet %q but its envelope names facet %q", id, facet, ef)
		}
		if l.Attempt < 1 {
			bad("lease of %q has attempt %d; want an integer >= 1", id, l.Attempt)
		}
		if v, ok := s.Att[id]; ok {
			bad("leased message %q also has attempts %q in msgs; a lease holds its own", id, v)
		}
		leasesOf[facet]++
	}
	inflight := make(map[string]int64)
	for _, f := range sortedKeys(s.Inflight) {
		n, err := strconv.ParseInt(s.Inflight[f], 10, 64)
		if err != nil || n < 1 {
			bad("inflight[%q] = %q; want a positive integer (an absent field means 0)", f, s.Inflight[f])
		}
		inflight[f] = n
	}
	_, ordered := s.Cfg[keylayout.FieldOrdered]
	_, ownLimits := s.Cfg[keylayout.FieldOwnLimits]
	if ownLimits != (len(s.Limits) > 0) {
		bad("cfg limits is %v but limits holds %d facet(s)", ownLimits, len(s.Limits))
	}
	own := make(map[string]int64, len(s.Limits))
	for _, f := range sortedKeys(s.Limits) {
		n, err := strconv.ParseInt(s.Limits[f], 10, 64)
		if err != nil || n < 0 {
			bad("limits[%q] = %q; want an integer >= 0", f, s.Limits[f])
		}
		own[f] = n
	}
	limitOf := func(f string) int64 {
		if ordered {
			return 1
		}
		if n, ok := own[f]; ok {
			return n
		}
		return limit
	}
	// Under strict order a retry waiting keeps its facet's slot.
	held := maps.Clone(leasesOf)
	if ordered {
		for _, z := range s.Delayed {
			id := member(z)
			if _, retry := s.Att[id]; !retry {
				continue
			}
			if f, ok := EnvelopeFacet(s.Msgs[id]); ok {
				held[f]++
			}
		}
	}
	// The counts are kept only under a limit: without one, pulls and acks
	// spend nothing on them.
	if limit > 0 || ordered || ownLimits {
		for _, f := range union(sortedKeys(inflight), sortedKeys(held)) {
			if inflight[f] != held[f] {
				bad("inflight[%q] = %d but the facet holds %d lease(s) and waiting retries", f, inflight[f], held[f])
			}
		}
	} else if len(inflight) > 0 {
		bad("inflight holds %d facet(s) though the queue has no in-flight limit", len(inflight))
	}

	// Active and deep.
	active := make(map[string]bool, len(s.Active))
	for _, f := range s.Active {
		active[f] = true
	}
	deep := make(map[string]float64, len(s.Deep))
	for _, z := range s.Deep {
		deep[member(z)] = z.Score
	}
	for _, f := range union(union(sortedKeys(active), sortedKeys(deep)), sortedKeys(s.Facets)) {
		n, listed := s.Facets[f]
		score, inDeep := deep[f]
		wantDeep := len(n) >= keylayout.DeepBacklog
		switch {
		case listed && len(n) == 0:
			bad("facet %q has an empty list key", f)
		case listed && !active[f]:
			bad("facet %q has %d ready message(s) but is not in active", f, len(n))
		case !listed && active[f]:
			bad("active holds facet %q, which has no ready messages", f)
		case wantDeep && !inDeep:
			bad("facet %q has %d ready messages but is not in deep", f, len(n))
		case !wantDeep && inDeep:
			bad("deep[%q] = %v but the facet has %d ready message(s), fewer than %d", f, score, len(n), keylayout.DeepBacklog)
		case inDeep && (math.Trunc(score) != score || int(score)/keylayout.DeepBacklog != len(n)/keylayout.DeepBacklog):
			bad("deep[%q] = %v but the facet has %d ready messages, in another multiple of %d", f, score, len(n), keylayout.DeepBacklog)
		}
	}

	// Ring and tokens.
	inRing := make(map[string]int64)
	for _, f := range s.Ring {
		inRing[f]++
	}
	tokens := make(map[string]int64)
	for _, f := range sortedKeys(s.Tokens) {
		n, err := strconv.ParseInt(s.Tokens[f], 10, 64)
		if err != nil || n < 1 {
			bad("tokens[%q] = %q; want a positive integer (an absent field means 0)", f, s.Tokens[f])
		}
		tokens[f] = n
	}
	for _, f := range union(sortedKeys(tokens), sortedKeys(inRing)) {
		if tokens[f] != inRing[f] {
			bad("tokens[%q] = %d but the ring holds %d token(s) of it", f, tokens[f], inRing[f])
		}
	}
	// A paused facet's priority is stored as "-<priority>": it takes no
	// turns until resumed.
	prio := func(f string) int64 {
		v, ok := s.Prio[f]
		if !ok {
			return 1
		}
		if strings.HasPrefix(v, "-") {
			return 0
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	for _, f := range sortedKeys(s.Prio) {
		if n, err := strconv.ParseInt(strings.TrimPrefix(s.Prio[f], "-"), 10, 64); err != nil || n < 0 {
			bad("prio[%q] = %q; want an integer >= 0, or its negation when paused", f, s.Prio[f])
		}
	}
	for _, f := range sortedKeys(tokens) {
		if tokens[f] > max(prio(f), 0) {
			bad("tokens[%q] = %d, more than its priority %d", f, tokens[f], prio(f))
		}
		if ready := int64(len(s.Facets[f])); tokens[f] > ready {
			bad("tokens[%q] = %d, more than its %d ready message(s)", f, tokens[f], ready)
		}
	}
	parked := make(map[string]bool, len(s.Parked))
	for _, z := range s.Parked {
		parked[member(z)] = true
	}
	for _, f := range sortedKeys(s.Facets) {
		if len(s.Facets[f]) == 0 || inRing[f] > 0 || parked[f] || prio(f) <= 0 {
			continue
		}
		if l := limitOf(f); l > 0 && inflight[f] >= l {
			continue
		}
		bad("facet %q is stuck: %d ready message(s), priority %d, %d in flight (limit %d), but no token in the ring",
			f, len(s.Facets[f]), prio(f), leasesOf[f], limitOf(f))
	}

	out = append(out, s.rateViolations()...)

	// Attempts and dead letters' reasons.
	for _, id := range sortedKeys(s.Att) {
		if _, ok := s.Msgs[id]; !ok {
			bad("msgs holds attempts of %q, which has no body in msgs", id)
		}
		if n, err := strconv.ParseInt(s.Att[id], 10, 64); err != nil || n < 1 {
			bad("attempts of %q = %q; want a positive integer (an absent field means 0)", id, s.Att[id])
		}
	}
	if s.Cfg != nil {
		if v := s.Cfg[keylayout.FieldRetried]; v != strconv.Itoa(len(s.Att)) && (v != "" || len(s.Att) > 0) {
			bad("cfg retried = %q but msgs holds %d attempts field(s)", v, len(s.Att))
		}
	}
	deadSet := make(map[string]bool, len(s.Dead))
	for _, z := range s.Dead {
		deadSet[member(z)] = true
		if _, ok := s.DeadErr[member(z)]; !ok {
			bad("dead letter %q has no reason in deaderr", member(z))
		}
	}
	for _, id := range sortedKeys(s.DeadErr) {
		if !deadSet[id] {
			bad("deaderr holds %q, which is not a dead letter", id)
		}
	}
	return out
}

// rateViolations checks the rate-limit keys.
func (s *QueueState) rateViolations() []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	validSpec := func(v string) bool {
		parts := strings.Split(v, ":")
		if len(parts) != 3 {
			return false
		}
		for _, p := range parts {
			if n, err := strconv.ParseInt(p, 10, 64); err != nil || n < 1 {
				return false
			}
		}
		return true
	}
	def, hasDef := s.Cfg[keylayout.FieldRate]
	if hasDef && !validSpec(def) {
		bad("cfg rate %q is not \"<n>:<period ms>:<burst>\"", def)
	}
	for _, f := range sortedKeys(s.Rates) {
		if v := s.Rates[f]; v != "0" && !validSpec(v) {
			bad("rates[%q] = %q; want \"<n>:<period ms>:<burst>\" or \"0\"", f, v)
		}
	}
	qrate, hasQueueRate := s.Cfg[keylayout.FieldQueueRate]
	if hasQueueRate && !validSpec(qrate) {
		bad("cfg qrate %q is not \"<n>:<period ms>:<burst>\"", qrate)
	}
	if v, ok := s.Cfg[keylayout.FieldQueueTat]; ok && !hasQueueRate {
		bad("cfg qtat = %q but the queue has no rate limit of its own", v)
	}
	if v, ok := s.Cfg[keylayout.FieldCap]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1 {
			bad("cfg cap %q is not an integer >= 1", v)
		}
	}
	_, rated := s.Cfg[keylayout.FieldRated]
	if want := hasDef || len(s.Rates) > 0 || hasQueueRate; rated != want {
		bad("cfg rated is %v but a rate limit is set: %v", rated, want)
	}
	_, layered := s.Cfg[keylayout.FieldLayers]
	var layerFields []string
	for _, f := range []string{keylayout.FieldOwnLimits, keylayout.FieldOrdered, keylayout.FieldCap, keylayout.FieldQueueRate, keylayout.FieldTTL, keylayout.FieldAdmit} {
		if _, ok := s.Cfg[f]; ok {
			layerFields = append(layerFields, f)
		}
	}
	if layered != (len(layerFields) > 0) {
		bad("cfg layers is %v but the layer fields set are %v", layered, layerFields)
	}
	if !rated && (len(s.Parked) > 0 || len(s.Tat) > 0) {
		bad("no rate limit is set but %d facet(s) are parked and %d arrival time(s) kept", len(s.Parked), len(s.Tat))
	}
	for _, z := range s.Parked {
		if z.Score <= 0 || math.Trunc(z.Score) != z.Score {
			bad("parked[%q] = %v; want a time in ms", member(z), z.Score)
		}
	}
	return out
}

// Dump describes the snapshot, at most max entries per key, for a failure
// report.
func (s *QueueState) Dump(maxEntries int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "keys of %s*:", s.Prefix)
	line := func(name string, v any) { fmt.Fprintf(&b, "\n  %-9s %s", name, v) }
	line(keylayout.Cfg, fmtMap(s.Cfg, maxEntries))
	line(keylayout.Ring, fmtList(s.Ring, maxEntries))
	line(keylayout.Tokens, fmtMap(s.Tokens, maxEntries))
	line(keylayout.Prio, fmtMap(s.Prio, maxEntries))
	line(keylayout.Inflight, fmtMap(s.Inflight, maxEntries))
	line(keylayout.Active, fmtList(s.Active, maxEntries))
	line(keylayout.Deep, fmtZ(s.Deep, maxEntries))
	for i, f := range sortedKeys(s.Facets) {
		if i == maxEntries {
			line(keylayout.Facet+"...", fmt.Sprintf("(%d more facets)", len(s.Facets)-i))
			break
		}
		line(keylayout.Facet+strconv.Quote(f), fmtList(s.Facets[f], maxEntries))
	}
	line(keylayout.Msgs, fmtList(sortedKeys(s.Msgs), maxEntries))
	line(keylayout.Msgs+" @", fmtMap(s.Att, maxEntries))
	line(keylayout.Leased, fmtZ(s.Leased, maxEntries))
	line(keylayout.Delayed, fmtZ(s.Delayed, maxEntries))
	line(keylayout.Dead, fmtZ(s.Dead, maxEntries))
	line(keylayout.DeadErr, fmtMap(s.DeadErr, maxEntries))
	line(keylayout.Seq, strconv.Quote(s.Seq))
	line(keylayout.Rates, fmtMap(s.Rates, maxEntries))
	line(keylayout.Parked, fmtZ(s.Parked, maxEntries))
	line(keylayout.Tat, fmtZ(s.Tat, maxEntries))
	if len(s.Other) > 0 {
		line("other", fmtList(s.Other, maxEntries))
	}
	return b.String()
}

func fmtList(l []string, maxEntries int) string {
	var parts []string
	for i, v := range l {
		if i == maxEntries {
			parts = append(parts, fmt.Sprintf("...(%d more)", len(l)-i))
			break
		}
		parts = append(parts, strconv.Quote(v))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtMap(m map[string]string, maxEntries int) string {
	if m == nil {
		return "(absent)"
	}
	var parts []string
	for i, k := range sortedKeys(m) {
		if i == maxEntries {
			parts = append(parts, fmt.Sprintf("...(%d more)", len(m)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%q:%q", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func fmtZ(zs []redis.Z, maxEntries int) string {
	var parts []string
	for i, z := range zs {
		if i == maxEntries {
			parts = append(parts, fmt.Sprintf("...(%d more)", len(zs)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%q:%v", member(z), strconv.FormatFloat(z.Score, 'f', -1, 64)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func member(z redis.Z) string {
	s, _ := z.Member.(string)
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// union merges two sorted lists of distinct strings.
func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}
