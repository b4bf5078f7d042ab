package broker

import "github.com/fairwayhq/fairway/internal/keylayout"

// keyspace builds the names of keys and channels under one namespace, from
// the key table of internal/keylayout, as the queue scripts derive theirs
// from queuePrefix (see scripts/keys.lua, generated from the same table).
type keyspace struct{ ns string }

// queuePrefix is "<ns>:{<queue>}:", the prefix of every key of a queue.
func (k keyspace) queuePrefix(queue string) string { return k.ns + ":{" + queue + "}:" }

// queueKey is the key of queue whose suffix is kind, a constant of
// keylayout.
func (k keyspace) queueKey(queue, kind string) string { return k.queuePrefix(queue) + kind }

func (k keyspace) facetKey(queue, facet string) string {
	return k.queuePrefix(queue) + keylayout.Facet + facet
}

// registryKey is the registry key whose suffix is kind, a constant of
// keylayout.
func (k keyspace) registryKey(kind string) string {
	return k.ns + ":" + keylayout.RegistryTag + ":" + kind
}

// registry is the hash of queue -> pattern.
func (k keyspace) registry() string { return k.registryKey(keylayout.RegistryQueues) }

// registryVersion is bumped on every change of the registry.
func (k keyspace) registryVersion() string { return k.registryKey(keylayout.RegistryVersion) }

// partitions is the hash of queue -> partitioning, for partitioned queues
// (see partition.go).
func (k keyspace) partitions() string { return k.registryKey(keylayout.RegistryParts) }

// changes is the hash of queue -> the change of its partition count under
// way, if any (see partitions.lua).
func (k keyspace) changes() string { return k.registryKey(keylayout.RegistryChanging) }

// partitionsScriptKeys are the KEYS of partitions.lua.
func (k keyspace) partitionsScriptKeys() []string {
	return []string{k.registry(), k.registryVersion(), k.partitions(), k.changes()}
}

// known is the hash of every queue that exists, routed or not (see
// Broker.ListQueues): queue -> "1", and knownScanned once the queues made
// before it was kept are found.
func (k keyspace) known() string { return k.registryKey(keylayout.RegistryKnown) }

// knownScanned is the field of known that says the namespace's keys were
// scanned once for queues older than known. A queue name cannot hold "~".
const knownScanned = keylayout.KnownScanned

// producers is the counter each Broker takes its producer number from, for
// the message IDs it makes.
func (k keyspace) producers() string { return k.registryKey(keylayout.RegistryProducers) }

// topicChannel is where a message of topic is published.
func (k keyspace) topicChannel(topic string) string { return k.ns + ":" + topic }

// wakeChannel is where a queue's scripts signal that a facet got a turn. Its
// "/" keeps it apart from every topic channel.
// The partitions of a queue share its wake channel.
func (k keyspace) wakeChannel(queue string) string { return k.ns + "/wake/" + logicalQueue(queue) }

// attemptFields are the fields of msgs that hold the deliveries so far of
// messages ids that are not leased (see keylayout.FieldAttemptsPrefix).
func attemptFields(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = keylayout.FieldAttemptsPrefix + id
	}
	return out
}
