// Package broker is Fairway's Redis-backed message broker: topic routing,
// fair pulls across facets, leases, retries and dead letters.
//
// Producers call [Broker.Deliver] (or [Broker.DeliverBytes],
// [Broker.DeliverBatch]). The broker publishes each message on the Redis
// pub/sub channel "<namespace>:<topic>" and queues it on every queue
// registered with [Broker.RegisterQueue] whose pattern (a Go regular
// expression, unanchored) matches the topic. [DeliverJSON] delivers a Go
// value as JSON for a worker.JSON handler. [WithReceipt] says which queues
// a delivery reached; one that reached none was only published, which
// [RequireQueue] (or Config.Unrouted) makes an error wrapping [ErrNoQueue].
//
// Inside a queue, messages are split by facet, usually one per tenant.
// [Broker.Pull] and [Broker.PullN] take facets in turn from a ring of facet
// tokens, so a tenant that floods a queue cannot starve the others. A facet's
// priority gives it that many tokens ([Broker.SetFacetPriority]; 0 pauses
// it), and a per-facet in-flight limit ([Broker.SetInflightLimit]) keeps a
// facet from holding every worker. A rate limit ([Broker.SetRateLimit],
// [Broker.SetFacetRateLimit]) caps how fast a facet is pulled: a facet over
// it gives its turn away until it frees up, and [Broker.PullWith] says when
// that is. [Broker.PauseQueue] and [Broker.PauseFacet] stop a queue or a
// facet.
//
// Delivery is at least once. A pulled message is leased: [Broker.Ack]
// deletes it, [Broker.Extend] keeps it, [Broker.Nack] retries it later, and a
// lease that expires puts it back at the head of its facet. After its
// budget of deliveries a message becomes a dead letter, which can be listed,
// requeued and purged. The budget is fixed when the message is queued: the
// delivery's [WithMaxAttempts], else the queue's default
// ([Broker.SetMaxAttempts]), else Config.MaxAttempts; it is stored with the
// message, read back as [Message.MaxAttempts], and is the one number that
// both a failure ([Broker.Nack]) and an expired lease count against. Every change of state happens in one Lua
// script, atomically, on Redis's clock.
//
// All keys of a queue share the hash tag "{<queue>}" so that each script
// touches one Redis Cluster slot:
//
//	<ns>:{<queue>}:cfg        hash: pattern, per-facet in-flight limit, paused, default rate limit, retired, default budget (attempts)
//	<ns>:{<queue>}:ring       list: facet tokens in turn order
//	<ns>:{<queue>}:tokens     hash: facet -> tokens in the ring
//	<ns>:{<queue>}:prio       hash: facet -> priority (absent: 1)
//	<ns>:{<queue>}:inflight   hash: facet -> messages leased
//	<ns>:{<queue>}:backlog    zset: facet -> messages ready
//	<ns>:{<queue>}:f:<facet>  list: ready message IDs, oldest first
//	<ns>:{<queue>}:msgs       hash: message ID -> envelope (the body, once)
//	<ns>:{<queue>}:att        hash: message ID -> deliveries so far
//	<ns>:{<queue>}:lease      hash: message ID -> lease token "<n>-<request ID>" and facet
//	<ns>:{<queue>}:leased     zset: message ID -> lease deadline
//	<ns>:{<queue>}:delayed    zset: message ID -> due time
//	<ns>:{<queue>}:dead       zset: message ID -> time of death
//	<ns>:{<queue>}:deaderr    hash: message ID -> why it died; with a stack (WithStack), "\x00s<len>:<reason><stack>"
//	<ns>:{<queue>}:seq        counter of lease tokens
//	<ns>:{<queue>}:u:<key>    idempotency key: when its window ends (ms), with an expiry
//	<ns>:{<queue>}:r:<id>     replay marker of one script call (replay.go), with an expiry
//	<ns>:{<queue>}:hist:<min> hash: processed, failed in that Unix minute; expires after 2h
//	<ns>:{<queue>}:rates      hash: facet -> its own rate limit "<n>:<period ms>:<burst>" ("0": none)
//	<ns>:{<queue>}:parked     zset: facet -> when its rate limit frees its parked turn (ms)
//	<ns>:{<queue>}:tat        zset: facet -> GCRA theoretical arrival time of its next pull (ms)
//	<ns>:{<queue>}:barrier    set and deleted inside one script, before WAIT (Config.ReplicaAcks)
//	<ns>:{~registry}:queues   hash: queue -> pattern
//	<ns>:{~registry}:version  counter bumped on every registry change
//	<ns>:{~registry}:parts    hash: queue -> "<count>;<generation>;<since ms>;<draining>,..."
//	<ns>:{~registry}:known    hash: every queue that exists, routed or not -> "1" (and "~scanned")
//	<ns>:{~registry}:producers counter: each Broker takes its producer number, for message IDs
//
// A partitioned queue (see [Partitioning]) is K such queues, its
// partitions, named "<queue>~<generation>.<i>[.<n>]" in place of <queue>:
// the "~" keeps them apart from queue names, and the suffix n places
// partition i's hash slot in the i-th K-th of the slot space. A partition
// retired by [Broker.SetPartitions] has "retired" set in its cfg until it is
// drained and deleted. The partitions of a queue share its wake channel.
//
// A message ID is 14 characters: 42 bits of Unix milliseconds, the 26-bit
// producer number of the Broker that made it, and a 16-bit sequence (see
// docs/design.md). Every message ID is always in exactly one place: in its facet's list
// (ready), in leased, in delayed, or in dead.
//
// The broker works on a standalone client, a Sentinel-managed one
// (redis.NewFailoverClient) and a ClusterClient, and carries on after a
// failover; on a ClusterClient, [New] adds a hook that reloads the slot map
// when commands fail. Redis replicates asynchronously, so a failover may
// lose the last acknowledged writes; Config.ReplicaAcks makes the calls
// that matter wait for replicas (Redis WAIT), at a cost. docs/failover.md
// has the details.
package broker
