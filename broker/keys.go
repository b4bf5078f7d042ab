package broker

// keyspace builds the names of keys and channels under one namespace. The
// queue scripts derive their keys from queuePrefix the same way (see
// scripts/lib.lua); the layout is documented in doc.go.
type keyspace struct{ ns string }

// queuePrefix is "<ns>:{<queue>}:", the prefix of every key of a queue.
func (k keyspace) queuePrefix(queue string) string { return k.ns + ":{" + queue + "}:" }

func (k keyspace) queueKey(queue, kind string) string { return k.queuePrefix(queue) + kind }

func (k keyspace) facetKey(queue, facet string) string { return k.queuePrefix(queue) + "f:" + facet }

// registry is the hash of queue -> pattern.
func (k keyspace) registry() string { return k.ns + ":{~registry}:queues" }

// registryVersion is bumped on every change of the registry.
func (k keyspace) registryVersion() string { return k.ns + ":{~registry}:version" }

// partitions is the hash of queue -> partitioning, for partitioned queues
// (see partition.go).
func (k keyspace) partitions() string { return k.ns + ":{~registry}:parts" }

// changes is the hash of queue -> the change of its partition count under
// way, if any (see partitions.lua).
func (k keyspace) changes() string { return k.ns + ":{~registry}:changing" }

// partitionsScriptKeys are the KEYS of partitions.lua.
func (k keyspace) partitionsScriptKeys() []string {
	return []string{k.registry(), k.registryVersion(), k.partitions(), k.changes()}
}

// known is the hash of every queue that exists, routed or not (see
// Broker.ListQueues): queue -> "1", and knownScanned once the queues made
// before it was kept are found.
func (k keyspace) known() string { return k.ns + ":{~registry}:known" }

// knownScanned is the field of known that says the namespace's keys were
// scanned once for queues older than known. A queue name cannot hold "~".
const knownScanned = "~scanned"

// producers is the counter each Broker takes its producer number from, for
// the message IDs it makes.
func (k keyspace) producers() string { return k.ns + ":{~registry}:producers" }

// topicChannel is where a message of topic is published.
func (k keyspace) topicChannel(topic string) string { return k.ns + ":" + topic }

// wakeChannel is where a queue's scripts signal that a facet got a turn. Its
// "/" keeps it apart from every topic channel.
// The partitions of a queue share its wake channel.
func (k keyspace) wakeChannel(queue string) string { return k.ns + "/wake/" + logicalQueue(queue) }
