package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func TestReplicaAcksConfig(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	for _, cfg := range []broker.Config{
		{ReplicaAcks: -1},
		{ReplicaAcks: 1, ReplicaAckTimeout: -time.Second},
		{ReplicaAcks: 1, ReplicaAckTimeout: time.Microsecond},
	} {
		if _, err := broker.New(rdb, cfg); !errors.Is(err, broker.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer func() { _ = ring.Close() }()
	if _, err := broker.New(ring, broker.Config{ReplicaAcks: 1}); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Errorf("New(ring, ReplicaAcks 1) = %v, want ErrInvalidConfig", err)
	}
	b, err := broker.New(rdb, broker.Config{ReplicaAcks: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Config().ReplicaAckTimeout; got != broker.ReplicaAckTimeoutDefault {
		t.Errorf("ReplicaAckTimeout defaults to %v, want %v", got, broker.ReplicaAckTimeoutDefault)
	}
}

// keysOf returns the keys of namespace ns on a server, sorted.
func keysOf(t *testing.T, rdb *redis.Client, ns string) []string {
	t.Helper()
	keys, err := rdb.Keys(t.Context(), testutil.GlobEscape(ns)+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// With ReplicaAcks, Deliver, Ack and Nack return once the replica has the
// write; with the replica hung, they say the write is not replicated, and
// the write has happened all the same.
func TestReplicaAcks(t *testing.T) {
	t.Parallel()
	primary, replica := testutil.StartReplicatedT(t)
	prdb, rrdb := primary.Client(), replica.Client()
	defer func() { _ = prdb.Close(); _ = rrdb.Close() }()
	ctx := t.Context()
	b := newQueue(t, prdb, broker.Config{ReplicaAcks: 1, ReplicaAckTimeout: 5 * time.Second})
	ns := b.Namespace()
	sameKeys := func(when string) {
		t.Helper()
		if p, r := keysOf(t, prdb, ns), keysOf(t, rrdb, ns); !slices.Equal(p, r) {
			t.Fatalf("%s: primary has %v, replica %v", when, p, r)
		}
	}
	deliver(t, b, "t", "f", "one")
	sameKeys("after Deliver")
	deliver(t, b, "t", "f", "two")
	m := pull(t, b, "q")
	if err := b.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	sameKeys("after Ack")
	m = pull(t, b, "q")
	if err := b.Nack(ctx, m, time.Hour); err != nil {
		t.Fatal(err)
	}
	sameKeys("after Nack")

	// A hung replica confirms nothing.
	replica.Pause()
	defer replica.Resume()
	hung := newBroker(t, prdb, broker.Config{Namespace: ns, ReplicaAcks: 1, ReplicaAckTimeout: 100 * time.Millisecond})
	err := hung.DeliverBytes(ctx, "t", "g", []byte("three"))
	if !errors.Is(err, broker.ErrNotReplicated) {
		t.Fatalf("Deliver with a hung replica = %v, want ErrNotReplicated", err)
	}
	t.Logf("Deliver: %v", err)
	wantStats(t, hung, "q", broker.QueueStats{Ready: 1, Delayed: 1, Facets: 1, Routed: true})
	m = pull(t, hung, "q")
	if err := hung.Ack(ctx, m); !errors.Is(err, broker.ErrNotReplicated) {
		t.Fatalf("Ack with a hung replica = %v, want ErrNotReplicated", err)
	}
	wantStats(t, hung, "q", broker.QueueStats{Delayed: 1, Routed: true})
	// A wait longer than the client's ReadTimeout still gets its answer.
	short := redis.NewClient(&redis.Options{Addr: primary.Addr(), ReadTimeout: 100 * time.Millisecond})
	defer func() { _ = short.Close() }()
	slow := newBroker(t, short, broker.Config{Namespace: ns, ReplicaAcks: 1, ReplicaAckTimeout: 300 * time.Millisecond})
	if err := slow.DeliverBytes(ctx, "t", "g", []byte("slow")); !errors.Is(err, broker.ErrNotReplicated) {
		t.Fatalf("Deliver waiting past ReadTimeout = %v, want ErrNotReplicated", err)
	}
	replica.Resume()
	testutil.Eventually(t, waitTimeout, func() bool {
		return hung.DeliverBytes(ctx, "t", "g", []byte("four")) == nil
	}, "Deliver to succeed once the replica is back")

	// More replicas than there are never confirm.
	two := newBroker(t, prdb, broker.Config{Namespace: ns, ReplicaAcks: 2, ReplicaAckTimeout: 50 * time.Millisecond})
	if err := two.DeliverBytes(ctx, "t", "g", []byte("five")); !errors.Is(err, broker.ErrNotReplicated) {
		t.Fatalf("Deliver with ReplicaAcks 2 and one replica = %v, want ErrNotReplicated", err)
	}
	checkQueues(t, b, "q")
}

// On a Redis Cluster, the broker waits on the master of each queue it
// wrote to, and only there.
func TestClusterReplicaAcks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node cluster")
	}
	t.Parallel()
	c := testutil.StartClusterT(t, testutil.ClusterOptions{Replicas: 1})
	rdb := c.Client()
	defer func() { _ = rdb.Close() }()
	ctx := t.Context()
	qs, err := c.QueuesOnEveryMaster(ctx)
	if err != nil {
		t.Fatal(err)
	}

	b := newBroker(t, rdb, broker.Config{ReplicaAcks: 1, ReplicaAckTimeout: 5 * time.Second})
	for i, q := range qs {
		register(t, b, q, "^"+string(rune('a'+i))+"$")
	}
	var ds []broker.Delivery
	for i := range qs {
		ds = append(ds, broker.Delivery{Topic: string(rune('a' + i)), Facet: "f", Body: []byte("x")})
	}
	if err := b.DeliverBatch(ctx, ds); err != nil {
		t.Fatal(err)
	}
	var ms []*broker.Message
	for _, q := range qs {
		ms = append(ms, pull(t, b, q))
	}
	if err := b.AckMany(ctx, ms); err != nil {
		t.Fatal(err)
	}

	// Hang the replica of the first queue's master: writes there are not
	// confirmed, writes elsewhere are.
	master, err := c.MasterOf(ctx, "{"+qs[0]+"}")
	if err != nil {
		t.Fatal(err)
	}
	replicas, err := c.ReplicasOf(ctx, master)
	if err != nil || len(replicas) != 1 {
		t.Fatalf("ReplicasOf(%s) = %v, %v", master, replicas, err)
	}
	hungNode := c.Node(replicas[0])
	hungNode.Pause()
	defer hungNode.Resume()

	// go-redis v9.23 does not send a WAIT queued in a ClusterClient
	// pipeline on the connection of the write before it, but to a master
	// picked at random: with that write's replica hung, a WAIT there
	// would count 0 replicas, yet most count 1. Hence the broker's
	// barrier on the master's own client.
	probe := b.Namespace() + ":probe:{" + qs[0] + "}"
	counted := 0
	for range 10 {
		var wait *redis.IntCmd
		_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, probe, "v", 0)
			wait = redis.NewIntCmd(ctx, "wait", 1, 100)
			return p.Process(ctx, wait)
		})
		t.Logf("SET then WAIT 1 in a ClusterClient pipeline, the replica hung: %v; WAIT = %d, %v", err, wait.Val(), wait.Err())
		if err == nil && wait.Val() == 1 {
			counted++
		}
	}
	if counted == 0 {
		t.Errorf("WAIT in a ClusterClient pipeline counted the hung replica out: go-redis may now keep it on the write's connection")
	}
	if err := rdb.Del(ctx, probe).Err(); err != nil {
		t.Fatal(err)
	}
	quick := newBroker(t, rdb, broker.Config{Namespace: b.Namespace(), ReplicaAcks: 1, ReplicaAckTimeout: 100 * time.Millisecond})
	if err := quick.DeliverBytes(ctx, "a", "f", []byte("y")); !errors.Is(err, broker.ErrNotReplicated) {
		t.Fatalf("Deliver to %s with its master's replica hung = %v, want ErrNotReplicated", qs[0], err)
	}
	if err := quick.DeliverBytes(ctx, "b", "f", []byte("y")); err != nil {
		t.Fatalf("Deliver to %s on another master = %v", qs[1], err)
	}
	// A partitioned queue: the wait covers the partition each message
	// went to, on whichever master holds it.
	if err := b.RegisterQueue(ctx, "parts", "^p$", broker.WithPartitions(3)); err != nil {
		t.Fatal(err)
	}
	p, err := b.Partitions(ctx, "parts")
	if err != nil {
		t.Fatal(err)
	}
	hungPart := -1
	for i, name := range p.Names {
		if m, err := c.MasterOf(ctx, "{"+name+"}"); err == nil && m == master {
			hungPart = i
		}
	}
	if hungPart < 0 {
		t.Fatalf("no partition of %v on the hung replica's master %s", p.Names, master)
	}
	var hung, fine []*broker.Message
	for i := range 12 {
		facet := fmt.Sprintf("f%d", i)
		err := quick.DeliverBytes(ctx, "p", facet, []byte("z"))
		if broker.PartitionOf(facet, 3) == hungPart {
			if !errors.Is(err, broker.ErrNotReplicated) {
				t.Fatalf("Deliver of %s to the partition on the hung master = %v, want ErrNotReplicated", facet, err)
			}
		} else if err != nil {
			t.Fatalf("Deliver of %s to a partition on another master = %v", facet, err)
		}
	}
	ms, err = quick.PullN(ctx, "parts", 12)
	if err != nil || len(ms) != 12 {
		t.Fatalf("PullN = %d, %v", len(ms), err)
	}
	for _, m := range ms {
		if broker.PartitionOf(m.Facet, 3) == hungPart {
			hung = append(hung, m)
		} else {
			fine = append(fine, m)
		}
	}
	if len(hung) == 0 || len(fine) == 0 {
		t.Fatalf("%d messages on the hung master's partition, %d elsewhere: want some of each", len(hung), len(fine))
	}
	if err := quick.AckMany(ctx, fine); err != nil {
		t.Fatalf("AckMany on the other masters' partitions = %v", err)
	}
	if err := quick.AckMany(ctx, hung); !errors.Is(err, broker.ErrNotReplicated) {
		t.Fatalf("AckMany on the hung master's partition = %v, want ErrNotReplicated", err)
	}
	hungNode.Resume()
	for _, q := range append(qs, p.Names...) {
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), q)
	}
}
