// Package keylayout is the one table of the broker's Redis keys: every key
// of a queue, the fields of the hashes whose fields are fixed (cfg above
// all), and the registry's keys, each with its Redis type and what it holds.
//
// Everything else is derived from it. `go generate ./broker` writes the Go
// name constants (names_gen.go), the Lua key and field constants of the
// queue scripts (broker/scripts/keys.lua), and the key-layout sections of
// broker/doc.go and README.md; tests fail when one of them is stale. The
// invariant checker of internal/testutil reads the table for the kinds and
// types of a queue's keys. Adding a key means adding a row here and running
// `go generate ./broker`.
package keylayout

import "strconv"

// Type is the Redis type of a key.
type Type string

// The Redis types of the broker's keys.
const (
	Hash   Type = "hash"
	List   Type = "list"
	ZSet   Type = "zset"
	Set    Type = "set"
	String Type = "string"
)

// A Key is one key under a prefix ("<ns>:{<queue>}:" for a queue,
// "<ns>:{~registry}:" for the registry), or with Var set a family of keys
// whose names start with Suffix and end with a variable part.
type Key struct {
	// Go is the name of the constant (in names_gen.go) that holds Suffix.
	Go string
	// Lua is the local the queue scripts' prelude defines as the key's full
	// name (prefix and Suffix); "" when no script derives the key itself.
	Lua string
	// RateKey puts the key in the table rate_keys() returns, under the name
	// Lua, instead of a local of its own: only scripts of rate-limited
	// queues build those names.
	RateKey bool
	// Suffix is what follows the prefix: the whole rest of the name, or for
	// a family the fixed marker before Var.
	Suffix string
	// Var names the variable end of a family's key names, as "<facet>".
	Var string
	// Type is the key's Redis type.
	Type Type
	// Holds says what the key holds and how its values are encoded.
	Holds string
	// Transient marks a key that exists only inside one script call, or
	// expires by itself, so a snapshot of a queue need not account for it.
	Transient bool
	// Legacy marks a key of an older layout that no script of this one
	// writes: only the migration reads it (and deletes it), so a queue of
	// this layout holds none.
	Legacy bool
	// Fields lists the hash's fields, when they are fixed names.
	Fields []Field
}

// A Field is one fixed field of a hash.
type Field struct {
	// Go is the name of the constant (in names_gen.go) that holds Name.
	Go string
	// Lua is the local the scripts' prelude defines as Name; "" when no
	// script reads or writes it.
	Lua string
	// Name is the field.
	Name string
	// Holds says what the field holds and how its value is encoded.
	Holds string
}

// Queue is every key of a queue, under "<ns>:{<queue>}:". Every key shares
// the queue's hash tag, so that each script touches one Redis Cluster slot.
var Queue = []Key{
	{Go: "Cfg", Lua: "K_CFG", Suffix: "cfg", Type: Hash, Holds: "the queue's settings; it exists while the queue does", Fields: []Field{
		{Go: "FieldPattern", Lua: "F_PATTERN", Name: "pattern", Holds: "the topic pattern, while the queue is routed"},
		{Go: "FieldLimit", Lua: "F_LIMIT", Name: "limit", Holds: "per-facet in-flight limit (0: none); always set, how scripts tell the queue exists"},
		{Go: "FieldPaused", Lua: "F_PAUSED", Name: "paused", Holds: "\"1\" while the queue is paused"},
		{Go: "FieldRate", Lua: "F_RATE", Name: "rate", Holds: "default rate limit per facet \"<n>:<period ms>:<burst>\""},
		{Go: "FieldRated", Lua: "F_RATED", Name: "rated", Holds: "\"1\" while any rate limit is set (rate or rates)"},
		{Go: "FieldRetired", Lua: "F_RETIRED", Name: "retired", Holds: "a retired partition: when it was retired (ms, the node's clock)"},
		{Go: "FieldShare", Lua: "F_SHARE", Name: "share", Holds: "a partition: \"<i>;<k>\", partition i of k, for its share of the dead-letter cap"},
		{Go: "FieldRetried", Lua: "F_RETRIED", Name: "retried", Holds: "how many attempts fields (\"@<ID>\") msgs holds (absent: none), so that Stats counts messages in O(1)"},
		{Go: "FieldAttempts", Lua: "F_ATTEMPTS", Name: "attempts", Holds: "the queue's default retry budget, for deliveries that give none (absent: the producer's Config.MaxAttempts)"},
		{Go: "FieldOwnLimits", Lua: "F_OWN_LIMITS", Name: "limits", Holds: "\"1\" while limits holds a facet's own in-flight limit"},
		{Go: "FieldOrdered", Lua: "F_ORDERED", Name: "ordered", Holds: "\"1\" while the queue keeps each facet's messages in strict order: one at a time, retries first"},
		{Go: "FieldCap", Lua: "F_CAP", Name: "cap", Holds: "the most messages of the queue leased at once, over all workers (absent: no cap); a partition holds its share"},
		{Go: "FieldQueueRate", Lua: "F_QRATE", Name: "qrate", Holds: "rate limit of the whole queue \"<n>:<period ms>:<burst>\", on top of the facets' own; a partition takes its share"},
		{Go: "FieldQueueTat", Lua: "F_QTAT", Name: "qtat", Holds: "GCRA theoretical arrival time of the queue's next pull under qrate (ms)"},
		{Go: "FieldTTL", Lua: "F_TTL", Name: "ttl", Holds: "the queue's default time to live (ms), for deliveries that give none (absent: messages do not expire)"},
		{Go: "FieldExpiry", Lua: "F_EXPIRY", Name: "expiry", Holds: "\"drop\": a message whose deadline passed before it started is dropped (absent: it becomes a dead letter)"},
		{Go: "FieldExpired", Lua: "F_EXPIRED", Name: "expired", Holds: "how many messages reached their turn after their deadline, dropped or dead-lettered (absent: none)"},
		{Go: "FieldAdmit", Lua: "F_ADMIT", Name: "admit", Holds: "admission control at delivery \"<facet backlog cap>;<queue cap>;<policy>;<own>\": the default most ready messages per facet (0: none), the most messages of the queue not dead (0: none; a partition holds its share), \"drop\" to drop a facet's oldest ready messages to make room (else \"refuse\"), and \"1\" while backlogs holds a facet's own cap (absent: no admission control)"},
		{Go: "FieldLayers", Lua: "F_LAYERS", Name: "layers", Holds: "\"1\" while any of limits, ordered, cap, qrate, ttl or admit is set, so that a pull, an ack or an enqueue of a queue without them reads one field for them all"},
		{Go: "FieldDropped", Lua: "F_DROPPED", Name: "dropped", Holds: "how many ready messages were dead-lettered to make room for newer ones of their facet (absent: none)"},
	}},
	{Go: "Ring", Lua: "K_RING", Suffix: "ring", Type: List, Holds: "facet tokens, in turn order"},
	{Go: "Tokens", Lua: "K_TOKENS", Suffix: "tokens", Type: Hash, Holds: "facet -> its tokens in the ring"},
	{Go: "Prio", Lua: "K_PRIO", Suffix: "prio", Type: Hash, Holds: "facet -> priority (absent: 1); a paused facet's is \"-<priority>\", kept for its resume"},
	{Go: "Inflight", Lua: "K_INFLIGHT", Suffix: "inflight", Type: Hash, Holds: "facet -> messages leased, and under strict order retries waiting (deleted at 0); kept only while an in-flight limit or strict order is set (setting one counts it again)"},
	{Go: "Limits", Lua: "K_LIMITS", Suffix: "limits", Type: Hash, Holds: "facet -> its own in-flight limit, overriding cfg.limit (\"0\": none)"},
	{Go: "Backlogs", Lua: "K_BACKLOGS", Suffix: "backlogs", Type: Hash, Holds: "facet -> its own backlog cap, overriding cfg.admit's (\"0\": none)"},
	{Go: "Active", Lua: "K_ACTIVE", Suffix: "active", Type: Set, Holds: "the facets with ready messages"},
	{Go: "Deep", Lua: "K_DEEP", Suffix: "deep", Type: ZSet, Holds: "facet -> its ready messages, for facets with at least " + deep + " of them (DeepBacklog); written when the count enters another multiple of " + deep + ", so it is always in the same one as the count"},
	{Go: "Backlog", Lua: "K_BACKLOG", Suffix: "backlog", Type: ZSet, Legacy: true, Holds: "layout 1 only: facet -> messages ready (fairway migrate moves it to active and deep)"},
	{Go: "Facet", Lua: "FACET", Suffix: "f:", Var: "<facet>", Type: List, Holds: "a facet's ready message IDs, oldest first"},
	{Go: "Msgs", Lua: "K_MSGS", Suffix: "msgs", Type: Hash, Holds: "message ID -> envelope (the body, once); \"@<ID>\" -> deliveries so far of a message not leased now (absent: none)", Fields: []Field{
		{Go: "FieldAttemptsPrefix", Lua: "F_ATT", Name: "@", Holds: "and <ID>: the deliveries so far of a ready, delayed or dead message that has had any"},
	}},
	{Go: "Leased", Lua: "K_LEASED", Suffix: "leased", Type: ZSet, Holds: "lease \"<ID>|<token>|<attempt>|<facet>\" -> its deadline (ms); token \"<n>-<request ID>\""},
	{Go: "Att", Lua: "K_ATT", Suffix: "att", Type: Hash, Legacy: true, Holds: "layout 1 only: message ID -> deliveries so far (fairway migrate moves them to msgs and leased)"},
	{Go: "Lease", Lua: "K_LEASE", Suffix: "lease", Type: Hash, Legacy: true, Holds: "layout 1 only: message ID -> \"<token>|<facet>\" (fairway migrate moves them to leased)"},
	{Go: "Delayed", Lua: "K_DELAYED", Suffix: "delayed", Type: ZSet, Holds: "message ID -> due time (ms)"},
	{Go: "Dead", Lua: "K_DEAD", Suffix: "dead", Type: ZSet, Holds: "message ID -> time of death (ms)"},
	{Go: "DeadErr", Lua: "K_DEADERR", Suffix: "deaderr", Type: Hash, Holds: "message ID -> why it died; with a stack (WithStack), \"\\x00s<len>:<reason><stack>\""},
	{Go: "Seq", Lua: "K_SEQ", Suffix: "seq", Type: String, Holds: "counter of lease tokens"},
	{Go: "Rates", Lua: "RATES", RateKey: true, Suffix: "rates", Type: Hash, Holds: "facet -> its own rate limit \"<n>:<period ms>:<burst>\" (\"0\": none)"},
	{Go: "Parked", Lua: "PARKED", RateKey: true, Suffix: "parked", Type: ZSet, Holds: "facet -> when its rate limit frees its parked turn (ms)"},
	{Go: "Tat", Lua: "TAT", RateKey: true, Suffix: "tat", Type: ZSet, Holds: "facet -> GCRA theoretical arrival time of its next pull (ms)"},
	{Go: "Idem", Lua: "IDEM", Suffix: "u:", Var: "<key>", Type: String, Transient: true, Holds: "idempotency key: when its window ends (ms), with an expiry"},
	{Go: "Replay", Suffix: "r:", Var: "<request ID>", Type: String, Transient: true, Holds: "replay marker of one script call: what it did, with an expiry"},
	{Go: "Hist", Suffix: "hist:", Var: "<minute>", Type: Hash, Transient: true, Holds: "counts in that Unix minute; expires after 2h", Fields: []Field{
		{Go: "FieldProcessed", Name: "processed", Holds: "messages handled successfully (acked)"},
		{Go: "FieldFailed", Name: "failed", Holds: "handlers that returned an error"},
	}},
	{Go: "Barrier", Suffix: "barrier", Type: String, Transient: true, Holds: "set and deleted inside one script, before WAIT (Config.ReplicaAcks)"},
}

// DeepBacklog is how many ready messages put a facet in the deep zset,
// which ranks the facets with the largest backlogs (TopFacets) while a pull
// writes to it only once per DeepBacklog messages of a facet, not per
// message.
const DeepBacklog = 64

// deep is DeepBacklog in the key table's text.
var deep = strconv.Itoa(DeepBacklog)

// RegistryTag is the hash tag of the registry's keys, which a queue name
// cannot hold ("~").
const RegistryTag = "{~registry}"

// Registry is every key of a namespace's registry, under
// "<ns>:{~registry}:". They share one hash tag, so one script can change
// several.
var Registry = []Key{
	{Go: "RegistryQueues", Suffix: "queues", Type: Hash, Holds: "queue -> pattern"},
	{Go: "RegistryVersion", Suffix: "version", Type: String, Holds: "counter bumped on every registry change"},
	{Go: "RegistryParts", Suffix: "parts", Type: Hash, Holds: "queue -> \"<count>;<generation>;<since ms>;<draining>,...\""},
	{Go: "RegistryChanging", Suffix: "changing", Type: Hash, Holds: "queue -> its partition count change under way; \"<queue>/set\" -> the last set's token"},
	{Go: "RegistryKnown", Suffix: "known", Type: Hash, Holds: "every queue that exists, routed or not -> \"1\"", Fields: []Field{
		{Go: "KnownScanned", Name: "~scanned", Holds: "set once the namespace's older queues were found"},
	}},
	{Go: "RegistryProducers", Suffix: "producers", Type: String, Holds: "counter: each Broker takes its producer number, for message IDs"},
}

// QueueKey returns the row of the queue key whose Suffix is suffix, and
// whether there is one.
func QueueKey(suffix string) (Key, bool) {
	for _, k := range Queue {
		if k.Suffix == suffix {
			return k, true
		}
	}
	return Key{}, false
}
