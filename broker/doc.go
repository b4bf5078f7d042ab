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
// facet. Above and beside the facets' own limits (which a facet may
// override, [Broker.SetFacetInflightLimit]), a queue can cap its leases
// over every worker ([Broker.SetGlobalConcurrency]), limit the rate of all
// its facets together ([Broker.SetQueueRateLimit]), and run each facet's
// messages one at a time in order ([Broker.SetStrictOrder]). At delivery,
// admission control caps each facet's backlog ([Broker.SetBacklogLimit])
// and the queue's ([Broker.SetQueueBacklogLimit]): a delivery past a cap is
// refused with [ErrBacklogFull], writing nothing, or makes room by
// dead-lettering the facet's oldest ([Broker.SetBacklogPolicy]); see
// docs/limits.md.
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
// A message can expire: [WithTTL] (or [WithExpiry], or the queue's default,
// [Broker.SetMessageTTL]) gives it a deadline on Redis's clock, and a
// message whose turn comes after its deadline, before it ever started, is
// not handed out but becomes a dead letter with the reason "expired", or is
// dropped ([Broker.SetExpiryPolicy]). It is checked when its turn comes,
// never by a scan; its retries, once it has started, still run.
//
// All keys of a queue share the hash tag "{<queue>}" so that each script
// touches one Redis Cluster slot. The table of internal/keylayout is the one
// source of the layout: `go generate ./broker` writes from it the name
// constants, the Lua prelude of the scripts (scripts/keys.lua), the full
// text of every script Redis runs (scripts/gen, embedded and run as it is),
// and this list
// (generated from internal/keylayout):
//
//	<ns>:{<queue>}:cfg            hash: the queue's settings; it exists while the queue does
//	  pattern                     field: the topic pattern, while the queue is routed
//	  limit                       field: per-facet in-flight limit (0: none); always set, how scripts tell the queue exists
//	  paused                      field: "1" while the queue is paused
//	  rate                        field: default rate limit per facet "<n>:<period ms>:<burst>"
//	  rated                       field: "1" while any rate limit is set (rate or rates)
//	  retired                     field: a retired partition: when it was retired (ms, the node's clock)
//	  share                       field: a partition: "<i>;<k>", partition i of k, for its share of the dead-letter cap
//	  retried                     field: how many attempts fields ("@<ID>") msgs holds (absent: none), so that Stats counts messages in O(1)
//	  attempts                    field: the queue's default retry budget, for deliveries that give none (absent: the producer's Config.MaxAttempts)
//	  limits                      field: "1" while limits holds a facet's own in-flight limit
//	  ordered                     field: "1" while the queue keeps each facet's messages in strict order: one at a time, retries first
//	  cap                         field: the most messages of the queue leased at once, over all workers (absent: no cap); a partition holds its share
//	  qrate                       field: rate limit of the whole queue "<n>:<period ms>:<burst>", on top of the facets' own; a partition takes its share
//	  qtat                        field: GCRA theoretical arrival time of the queue's next pull under qrate (ms)
//	  ttl                         field: the queue's default time to live (ms), for deliveries that give none (absent: messages do not expire)
//	  expiry                      field: "drop": a message whose deadline passed before it started is dropped (absent: it becomes a dead letter)
//	  expired                     field: how many messages reached their turn after their deadline, dropped or dead-lettered (absent: none)
//	  admit                       field: admission control at delivery "<facet backlog cap>;<queue cap>;<policy>;<own>": the default most ready messages per facet (0: none), the most messages of the queue not dead (0: none; a partition holds its share), "drop" to drop a facet's oldest ready messages to make room (else "refuse"), and "1" while backlogs holds a facet's own cap (absent: no admission control)
//	  layers                      field: "1" while any of limits, ordered, cap, qrate, ttl or admit is set, so that a pull, an ack or an enqueue of a queue without them reads one field for them all
//	  dropped                     field: how many ready messages were dead-lettered to make room for newer ones of their facet (absent: none)
//	<ns>:{<queue>}:ring           list: facet tokens, in turn order
//	<ns>:{<queue>}:tokens         hash: facet -> its tokens in the ring
//	<ns>:{<queue>}:prio           hash: facet -> priority (absent: 1); a paused facet's is "-<priority>", kept for its resume
//	<ns>:{<queue>}:inflight       hash: facet -> messages leased, and under strict order retries waiting (deleted at 0); kept only while an in-flight limit or strict order is set (setting one counts it again)
//	<ns>:{<queue>}:limits         hash: facet -> its own in-flight limit, overriding cfg.limit ("0": none)
//	<ns>:{<queue>}:backlogs       hash: facet -> its own backlog cap, overriding cfg.admit's ("0": none)
//	<ns>:{<queue>}:active         set: the facets with ready messages
//	<ns>:{<queue>}:deep           zset: facet -> its ready messages, for facets with at least 64 of them (DeepBacklog); written when the count enters another multiple of 64, so it is always in the same one as the count
//	<ns>:{<queue>}:backlog        zset: layout 1 only: facet -> messages ready (fairway migrate moves it to active and deep)
//	<ns>:{<queue>}:f:<facet>      list: a facet's ready message IDs, oldest first
//	<ns>:{<queue>}:msgs           hash: message ID -> envelope (the body, once); "@<ID>" -> deliveries so far of a message not leased now (absent: none)
//	  @                           field: and <ID>: the deliveries so far of a ready, delayed or dead message that has had any
//	<ns>:{<queue>}:leased         zset: lease "<ID>|<token>|<attempt>|<facet>" -> its deadline (ms); token "<n>-<request ID>"
//	<ns>:{<queue>}:att            hash: layout 1 only: message ID -> deliveries so far (fairway migrate moves them to msgs and leased)
//	<ns>:{<queue>}:lease          hash: layout 1 only: message ID -> "<token>|<facet>" (fairway migrate moves them to leased)
//	<ns>:{<queue>}:delayed        zset: message ID -> due time (ms)
//	<ns>:{<queue>}:dead           zset: message ID -> time of death (ms)
//	<ns>:{<queue>}:deaderr        hash: message ID -> why it died; with a stack (WithStack), "\x00s<len>:<reason><stack>"
//	<ns>:{<queue>}:seq            string: counter of lease tokens
//	<ns>:{<queue>}:rates          hash: facet -> its own rate limit "<n>:<period ms>:<burst>" ("0": none)
//	<ns>:{<queue>}:parked         zset: facet -> when its rate limit frees its parked turn (ms)
//	<ns>:{<queue>}:tat            zset: facet -> GCRA theoretical arrival time of its next pull (ms)
//	<ns>:{<queue>}:u:<key>        string: idempotency key: when its window ends (ms), with an expiry
//	<ns>:{<queue>}:r:<request ID> string: replay marker of one script call: what it did, with an expiry
//	<ns>:{<queue>}:hist:<minute>  hash: counts in that Unix minute; expires after 2h
//	  processed                   field: messages handled successfully (acked)
//	  failed                      field: handlers that returned an error
//	<ns>:{<queue>}:barrier        string: set and deleted inside one script, before WAIT (Config.ReplicaAcks)
//	<ns>:{~registry}:queues       hash: queue -> pattern
//	<ns>:{~registry}:version      string: counter bumped on every registry change
//	<ns>:{~registry}:parts        hash: queue -> "<count>;<generation>;<since ms>;<draining>,..."
//	<ns>:{~registry}:changing     hash: queue -> its partition count change under way; "<queue>/set" -> the last set's token
//	<ns>:{~registry}:known        hash: every queue that exists, routed or not -> "1"
//	  ~scanned                    field: set once the namespace's older queues were found
//	<ns>:{~registry}:producers    string: counter: each Broker takes its producer number, for message IDs
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
