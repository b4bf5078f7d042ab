package broker

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated means a write was made on the master, but fewer replicas
// than Config.ReplicaAcks confirmed it within Config.ReplicaAckTimeout: it
// is in Redis, and may be lost if the master fails before a replica gets
// it (see docs/failover.md). Retrying a Deliver that failed so may queue
// the message twice.
var ErrNotReplicated = errors.New("broker: written, but not confirmed by enough replicas; it may not survive a failover")

// Redis replicates asynchronously: a master acknowledges a write before any
// replica has it. With Config.ReplicaAcks = n, after each Deliver, Ack,
// AckMany, Release, Nack and Kill the broker waits, with Redis's
// WAIT n timeout, until n replicas of every master it wrote to have the
// write.
//
// WAIT counts the replicas that reached the replication offset of the last
// write made on its own connection. go-redis takes a connection from its
// pool per command, and a ClusterClient sends a WAIT queued in a pipeline
// to a master picked at random, not to the connection of the write before
// it (v9.23; TestClusterReplicaAcks shows it), so the broker does not send
// WAIT after the operation's own commands. Instead it sends, in one pipeline on one
// connection to each master it wrote to, a tiny write of its own (the
// barrier script) and then WAIT. The replication stream is ordered: a
// replica that has the barrier has every write the master made before it,
// the operation's included. It costs one more round trip per master.

// scriptBarrier writes and deletes one key, so that its connection has a
// replication offset for WAIT; it leaves nothing behind.
var scriptBarrier = readScript("barrier")

// checkReplicaClient reports an error if cfg asks for replica
// acknowledgements on a client the broker cannot send WAIT through.
func checkReplicaClient(rdb redis.UniversalClient, cfg Config) error {
	if cfg.ReplicaAcks == 0 {
		return nil
	}
	switch rdb.(type) {
	case *redis.Client, *redis.ClusterClient:
		return nil
	}
	return fmt.Errorf("%w: ReplicaAcks needs a *redis.Client (standalone or Sentinel) or a *redis.ClusterClient, not %T",
		ErrInvalidConfig, rdb)
}

// awaitWritten waits for replicas to confirm a DeliverBatch that
// succeeded: on the masters of the partitions the send wrote to, which a
// concurrent SetPartitions does not change.
func (b *Broker) awaitWritten(ctx context.Context, res sendResult) error {
	if b.cfg.ReplicaAcks == 0 {
		return nil
	}
	return b.awaitReplicas(ctx, func(yield func(string) bool) {
		for _, qs := range res.written {
			for _, q := range qs {
				if !yield(q) {
					return
				}
			}
		}
	})
}

// awaitReplicas waits, when Config.ReplicaAcks asks for it, until that many
// replicas of each master holding one of queues have every write that
// master acknowledged so far. It returns an error wrapping
// ErrNotReplicated if they do not within Config.ReplicaAckTimeout. Without
// ReplicaAcks it returns at once, without iterating over queues.
func (b *Broker) awaitReplicas(ctx context.Context, queues iter.Seq[string]) error {
	if b.cfg.ReplicaAcks == 0 {
		return nil
	}
	// One barrier per master: keyed by a key of the first queue it holds.
	barriers := make(map[*redis.Client]string)
	switch rdb := b.rdb.(type) {
	case *redis.ClusterClient:
		for q := range queues {
			key := b.keys.queueKey(q, keylayout.Barrier)
			node, err := rdb.MasterForKey(ctx, key)
			if err != nil {
				return wrapRedis("wait for replicas", err)
			}
			if _, ok := barriers[node]; !ok {
				barriers[node] = key
			}
		}
	case *redis.Client:
		for q := range queues {
			barriers[rdb] = b.keys.queueKey(q, keylayout.Barrier)
			break
		}
	default:
		return checkReplicaClient(b.rdb, b.cfg)
	}
	if len(barriers) == 1 {
		for node, key := range barriers {
			return b.barrier(ctx, node, key)
		}
	}
	errs := make(chan error, len(barriers))
	for node, key := range barriers {
		go func() { errs <- b.barrier(ctx, node, key) }()
	}
	var all []error
	for range barriers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// barrier runs the barrier script on key and then WAIT, in one pipeline on
// one connection of node.
func (b *Broker) barrier(ctx context.Context, node *redis.Client, key string) error {
	n, timeout := b.cfg.ReplicaAcks, b.cfg.ReplicaAckTimeout
	// A pipeline's replies are read within the client's ReadTimeout
	// (3s by default); WAIT may take timeout, so give it that and more.
	if rt := node.Options().ReadTimeout; rt > 0 && rt < timeout+time.Second {
		node = node.WithTimeout(timeout + time.Second)
	}
	wait := redis.NewIntCmd(ctx, "wait", n, timeout.Milliseconds())
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		// EVAL, not EVALSHA: the script is a few bytes, and a replica
		// promoted since would answer NOSCRIPT.
		p.Eval(ctx, scriptBarrier, []string{key})
		return p.Process(ctx, wait)
	})
	if err != nil {
		return wrapRedis("wait for replicas", err)
	}
	if got := wait.Val(); got < int64(n) {
		return fmt.Errorf("%w: only %d of %d replicas confirmed within %v", ErrNotReplicated, got, n, timeout)
	}
	return nil
}
