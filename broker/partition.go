package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/internal/keylayout"
)

// MaxPartitions is the most partitions a queue can have.
const MaxPartitions = 256

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// partitionSep separates a queue's name from its partition number in the
// name of a partition. Queue names cannot contain it, so a partition never
// collides with a queue.
const partitionSep = "~"

// Partitioning says how a queue is split into partitions. Every partition
// is a queue of its own in Redis, with its own hash tag, so on a Redis
// Cluster the partitions of one queue spread over the masters. A facet
// always maps to the same partition, which keeps its messages in order;
// pulls rotate over the partitions in proportion to their active facets, so
// facets take turns across the whole queue.
type Partitioning struct {
	// Count is the number of partitions new messages are spread over; 1
	// for a queue that is not partitioned.
	Count int
	// Generation counts the changes of Count; partitions of different
	// generations never share a name. A queue never partitioned is of
	// generation 0.
	Generation int
	// Names are the partitions' names in Redis (the hash tag in their
	// keys), indexed by partition number: the queue's own name for a queue
	// never partitioned, else "<queue>~<generation>.<partition>", with a
	// suffix that places the partition's hash slot (see SetPartitions).
	Names []string
	// Draining are partitions of an earlier Count that still hold
	// messages. Pulls take from them first, so each facet's older messages
	// are leased before its newer ones; once empty they are deleted.
	Draining []string
	// Since is when Count last changed; zero if it never did.
	Since time.Time
}

// all is the partitions to read or change: draining first, then current.
func (p Partitioning) all() []string { return append(slices.Clone(p.Draining), p.Names...) }

// simple tells whether the queue is one queue in Redis under its own name.
func (p Partitioning) simple() bool { return p.Count <= 1 && len(p.Draining) == 0 }

// layout is a queue's partitioning as the registry records it.
type layout struct {
	count    int
	gen      int
	since    int64 // ms
	draining []string
	names    []string // the current partitions, filled in by registryCache.load
}

// parseLayout reads a registry value
// "<count>;<generation>;<since ms>;<name>,<name>...".
func parseLayout(s string) (layout, bool) {
	parts := strings.SplitN(s, ";", 4)
	if len(parts) != 4 {
		return layout{}, false
	}
	n, err1 := strconv.Atoi(parts[0])
	gen, err2 := strconv.Atoi(parts[1])
	since, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || n < 1 || n > MaxPartitions || gen < 0 || gen == 0 && n > 1 {
		return layout{}, false
	}
	l := layout{count: n, gen: gen, since: since}
	for _, d := range strings.Split(parts[3], ",") {
		if d != "" {
			l.draining = append(l.draining, d)
		}
	}
	return l, true
}

// partitionName is the name of partition i of k of queue's generation gen:
// generation 0 is the queue's own name; else "<queue>~<gen>.<i>" and, when
// needed, a suffix ".<n>" chosen so that the name's hash slot lies in the
// i-th k-th of the slot space. A cluster whose slots are split evenly over
// its masters, as redis-cli --cluster create does, so holds k partitions on
// k masters.
func partitionName(queue string, gen, i, k int) string {
	if gen == 0 {
		return queue
	}
	base := queue + partitionSep + strconv.Itoa(gen) + "." + strconv.Itoa(i)
	for n := 0; ; n++ {
		name := base
		if n > 0 {
			name = base + "." + strconv.Itoa(n)
		}
		if keySlot(name)*k/clusterSlots == i {
			return name
		}
	}
}

// logicalQueue is the queue a partition belongs to.
func logicalQueue(name string) string {
	if i := strings.Index(name, partitionSep); i >= 0 {
		return name[:i]
	}
	return name
}

// partitionOf is the partition a facet's messages go to among k.
func partitionOf(facet string, k int) int {
	if k <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(facet))
	return int(h.Sum64() % uint64(k))
}

// keySlot is the Redis Cluster hash slot of a hash tag's content: CRC16
// (XMODEM) modulo 16384.
func keySlot(tag string) int {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % clusterSlots)
}

// partitionNames are the names of the k partitions of queue's generation
// gen, indexed by partition number.
func partitionNames(queue string, gen, k int) []string {
	if gen == 0 {
		return []string{queue}
	}
	names := make([]string, k)
	for i := range names {
		names[i] = partitionName(queue, gen, i, k)
	}
	return names
}

// partitioning turns a layout into a Partitioning.
func (l layout) partitioning(queue string) Partitioning {
	p := Partitioning{Count: max(l.count, 1), Generation: l.gen, Draining: l.draining, Names: l.names}
	if p.Names == nil {
		p.Names = partitionNames(queue, l.gen, p.Count)
	}
	if l.since > 0 {
		p.Since = time.UnixMilli(l.since)
	}
	return p
}

// partitionsMaxAge is how old the registry cache may be for the operations
// that read or change a queue's partitions (Stats, settings...); pulls
// follow a change of partitioning as soon as the old partitions tell them.
const partitionsMaxAge = time.Second

// Partitions returns how queue is split into partitions.
func (b *Broker) Partitions(ctx context.Context, queue string) (Partitioning, error) {
	if err := checkQueue(ctx, queue); err != nil {
		return Partitioning{}, err
	}
	return b.partitions(ctx, queue, partitionsMaxAge)
}

// partitions returns queue's partitioning from a registry cache at most
// maxAge old (any age when maxAge is 0).
func (b *Broker) partitions(ctx context.Context, queue string, maxAge time.Duration) (Partitioning, error) {
	if !b.reg.fresh(maxAge) {
		if err := b.loadRegistry(ctx); err != nil {
			return Partitioning{}, err
		}
	}
	_, _, l := b.reg.queue(queue)
	return l.partitioning(queue), nil
}

// layoutState is a queue's partitioning as the registry holds it now, and
// whether a change of it is under way.
type layoutState struct {
	layout   string // the registry's value; "" for a queue never partitioned
	changing bool
}

// layoutState reads queue's layoutState from Redis, in one atomic call.
func (b *Broker) layoutState(ctx context.Context, queue string) (layoutState, error) {
	res, err := scriptPartitions.Run(ctx, b.rdb, b.keys.partitionsScriptKeys(), queue, "state").Slice()
	if err != nil {
		return layoutState{}, wrapRedis("read partitions", err)
	}
	if len(res) != 2 {
		return layoutState{}, fmt.Errorf("broker: read partitions: unexpected reply %v", res)
	}
	l, _ := res[0].(string)
	changing, _ := res[1].(int64)
	return layoutState{layout: l, changing: changing == 1}, nil
}

// eachPartition runs fn on every partition of queue, draining ones first,
// and returns the first error. A draining partition that is gone (deleted
// once empty) is skipped. It serves the calls that change a queue's
// messages or its registration (dead letters, unregister, destroy), which
// must reach every partition: it reads the layout from Redis, not the cache
// (which may be a second old), and reads it again afterwards, running fn on
// the partitions of a change made meanwhile, until a read finds none new.
func (b *Broker) eachPartition(ctx context.Context, queue string, fn func(name string) error) error {
	done := make(map[string]bool)
	for range maxLayoutReads {
		st, err := b.layoutState(ctx, queue)
		if err != nil {
			return err
		}
		p, err := st.partitioning("read partitions", queue)
		if err != nil {
			return err
		}
		fresh := false
		for _, name := range p.all() {
			if done[name] {
				continue
			}
			done[name], fresh = true, true
			err := fn(name)
			if errors.Is(err, ErrUnknownQueue) && slices.Contains(p.Draining, name) {
				continue
			}
			if err != nil {
				return err
			}
		}
		if !fresh {
			return nil
		}
	}
	return fmt.Errorf("%w: the partitions of %q kept changing; try again", ErrConflict, queue)
}

// maxLayoutReads bounds eachPartition's reads of a layout that keeps
// changing under it.
const maxLayoutReads = 5

// WithPartitions splits a queue into k partitions (1 to MaxPartitions); see
// Partitioning. On a queue that has another count, RegisterQueue changes it
// as SetPartitions does.
func WithPartitions(k int) QueueOption {
	return func(o *queueOptions) { o.partitions = k }
}

// QueueOption changes how RegisterQueue sets up a queue.
type QueueOption func(*queueOptions)

type queueOptions struct {
	partitions int  // 0: keep the queue's count (1 for a new queue)
	replace    bool // ReplacePattern: a different pattern is replaced, not refused
}

// SetPartitions changes the number of partitions of queue, which must be
// registered, to k. Nothing is lost or stranded: deliveries go to the new
// partitions at once; the old ones keep their messages, leases, delayed
// messages and dead letters, are pulled from first until they are empty
// (so each facet's older messages are leased before its newer ones), and
// are then deleted, one Config.DrainGrace after the change at the earliest.
// Settings (in-flight limit, pause, rate limits, facet priorities) are
// copied to the new partitions. Changing the count again while partitions
// drain is allowed: they keep draining. Of two changes at once, the one that
// reaches the registry second returns ErrConflict and changes nothing.
func (b *Broker) SetPartitions(ctx context.Context, queue string, k int) error {
	if err := checkQueue(ctx, queue); err != nil {
		return err
	}
	if k < 1 || k > MaxPartitions {
		return fmt.Errorf("%w: %d partitions is outside [1, %d]", ErrInvalidArgument, k, MaxPartitions)
	}
	if err := b.loadRegistry(ctx); err != nil {
		return err
	}
	re, routed, l := b.reg.queue(queue)
	if !routed {
		return fmt.Errorf("%w %q: register it before partitioning it", ErrUnknownQueue, queue)
	}
	old := l.partitioning(queue)
	// The caps a partition holds a share of: each needs at least 1.
	caps, err := b.rdb.HMGet(ctx, b.keys.queueKey(old.Names[0], keylayout.Cfg), keylayout.FieldCap, keylayout.FieldAdmit).Result()
	if err != nil {
		return wrapRedis("set partitions", err)
	}
	if capped := intOr(caps[0], 0); capped > 0 && k > capped {
		return fmt.Errorf("%w: %d partitions is over the global concurrency %d of %q (each partition needs a share of at least 1)", ErrInvalidArgument, k, capped, queue)
	}
	admit, _ := caps[1].(string)
	if qcap := parseAdmission(admit).queue; qcap > 0 && k > qcap {
		return fmt.Errorf("%w: %d partitions is over the queue backlog cap %d of %q (each partition needs a share of at least 1)", ErrInvalidArgument, k, qcap, queue)
	}
	return b.repartition(ctx, queue, re.String(), old, k, false)
}

// changeTTL is how long a change of partition count may take from its
// 'prepare' to its switch of the registry (on the registry node's clock).
// Settings wait for a change under way to end, at most this long if the
// process making it died; a change that takes longer fails with
// ErrConflict and changes nothing.
const changeTTL = 10 * time.Second

// repartition moves queue from partitioning old to k partitions of the next
// generation.
// A new queue (fresh) starts at generation 1 with nothing to drain.
//
// Settings must hold on every partition, current and next, whatever runs
// at the same time. So the change is announced first ('prepare'), and a
// setting call waits while one is under way (see queueSetting); the
// settings are read from the old partitions only after the announcement,
// so they include every setting that returned before it, and copied to the
// new partitions before the switch. A setting that overlapped the
// announcement sees it when it checks the registry again, and applies
// itself anew to the layout after the switch.
func (b *Broker) repartition(ctx context.Context, queue, pattern string, old Partitioning, k int, fresh bool) error {
	if old.Count == k && !fresh {
		return nil
	}
	token, err := b.prepareChange(ctx, queue, old.Generation)
	if err != nil {
		return err
	}
	gen := old.Generation + 1
	next := partitionNames(queue, gen, k)
	if err := b.createPartitions(ctx, pattern, old, next, fresh); err != nil {
		abort := b.abortChange(queue, token)
		return errors.Join(err, abort, b.dropUnused(context.WithoutCancel(ctx), queue, next))
	}
	if fresh {
		old.Names = nil
	}
	// The registry switches only from the generation read, and only for
	// the change announced: two changes at once cannot both win.
	args := append([]any{queue, "set", old.Generation, k, token}, anySlice(old.Names)...)
	res, err := scriptPartitions.Run(ctx, b.rdb, b.keys.partitionsScriptKeys(), args...).Int64()
	if err != nil {
		return errors.Join(wrapRedis("repartition", err), b.abortChange(queue, token))
	}
	b.reg.invalidate()
	if res < 0 {
		conflict := fmt.Errorf("%w: %q was repartitioned meanwhile, or the change took longer than %v; try again", ErrConflict, queue, changeTTL)
		return errors.Join(conflict, b.dropUnused(ctx, queue, next))
	}
	// The old partitions keep their pattern, so a producer that routed by
	// the old count a moment ago still lands; they tell pullers the
	// partitioning changed.
	for _, name := range old.Names {
		if err := b.runQueue(ctx, scriptSettings, name, "retire").Err(); err != nil {
			return wrapRedis("retire partition", err)
		}
	}
	return nil
}

// prepareChange announces a change of queue's count from generation gen,
// and returns the token that names it.
func (b *Broker) prepareChange(ctx context.Context, queue string, gen int) (string, error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	token := hex.EncodeToString(raw[:])
	res, err := scriptPartitions.Run(ctx, b.rdb, b.keys.partitionsScriptKeys(), queue, "prepare", gen, token, changeTTL.Milliseconds()).Int64()
	if err != nil {
		return "", wrapRedis("repartition", err)
	}
	if res < 0 {
		return "", fmt.Errorf("%w: %q is being repartitioned, or was meanwhile; try again", ErrConflict, queue)
	}
	return token, nil
}

// abortChange ends a change announced by prepareChange that will not
// switch, so that settings need not wait for it. It runs even when the
// caller's context has ended.
func (b *Broker) abortChange(queue, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return wrapRedis("abort repartition", scriptPartitions.Run(ctx, b.rdb, b.keys.partitionsScriptKeys(), queue, "abort", token).Err())
}

// createPartitions creates the partitions next with pattern and, unless the
// queue is new (fresh), the settings of old's first partition, read now.
func (b *Broker) createPartitions(ctx context.Context, pattern string, old Partitioning, next []string, fresh bool) error {
	var settings []string
	if !fresh {
		var err error
		settings, err = b.runQueue(ctx, scriptSettings, old.Names[0], "get").StringSlice()
		if err != nil {
			return wrapRedis("read settings", err)
		}
	}
	args := append([]any{"set"}, anySlice(settings)...)
	for i, name := range next {
		if err := b.runQueue(ctx, scriptCreateQueue, name, pattern).Err(); err != nil {
			return wrapRedis("create partition", err)
		}
		// The partitions share the queue's dead-letter cap.
		share := strconv.Itoa(i) + ";" + strconv.Itoa(len(next))
		if err := b.runQueue(ctx, scriptSettings, name, "share", share).Err(); err != nil {
			return wrapRedis("create partition", err)
		}
		if fresh {
			continue
		}
		if err := b.runQueue(ctx, scriptSettings, name, args...).Err(); err != nil {
			return wrapRedis("copy settings", err)
		}
	}
	return nil
}

// dropUnused deletes the partitions among names that a change of count
// which lost to another created, and that the winner does not use. The
// registry never routed to them, so they hold nothing but settings.
func (b *Broker) dropUnused(ctx context.Context, queue string, names []string) error {
	p, err := b.partitions(ctx, queue, 0)
	if err != nil {
		return err
	}
	for _, name := range names {
		if slices.Contains(p.Names, name) || slices.Contains(p.Draining, name) {
			continue
		}
		if err := b.runQueue(ctx, scriptDestroyQueue, name).Err(); err != nil {
			return wrapRedis("drop unused partition", err)
		}
	}
	return nil
}

// dropDrained deletes a draining partition of queue once it holds nothing
// and Config.DrainGrace has passed since it was retired, and takes it off
// the registry. It reports whether the partition is gone. The script
// measures the grace on the partition's own Redis clock, from the time it
// recorded at the retirement: a local clock never meets a Redis time here.
func (b *Broker) dropDrained(ctx context.Context, queue, name string) (bool, error) {
	gone, err := b.runQueue(ctx, scriptDropDrained, name, b.cfg.DrainGrace.Milliseconds()).Int64()
	if err != nil || gone == 0 {
		return false, wrapRedis("drop drained partition", err)
	}
	if err := scriptPartitions.Run(ctx, b.rdb, b.keys.partitionsScriptKeys(), queue, "drained", name).Err(); err != nil {
		return false, wrapRedis("drop drained partition", err)
	}
	b.reg.invalidate()
	return true, nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
