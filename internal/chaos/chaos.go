package chaos

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// event is one act of chaos, at an offset from the start of production.
type event struct {
	at     time.Duration
	redis  bool // restart redis-server
	memory bool // run redis-server at its memory limit; else kill a worker
}

// schedule spreads the kills and restarts over the production window, each
// at a random point of its own slot, so that every one lands while messages
// are being delivered and handled.
func (r *run) schedule() []event {
	n := r.cfg.Kills + r.cfg.RedisRestarts
	window := r.cfg.production()
	slot := window / time.Duration(n+1)
	var evs []event
	for i := range n {
		jitter := time.Duration(r.rng.Int64N(int64(slot)/2 + 1))
		evs = append(evs, event{at: slot*time.Duration(i) + slot/2 + jitter})
	}
	// The restarts take slots in the middle, away from the start and end.
	for i := range r.cfg.RedisRestarts {
		evs[(i+1)*n/(r.cfg.RedisRestarts+1)].redis = true
	}
	if r.cfg.MemoryLimit > 0 {
		evs = append(evs, event{at: window * 2 / 5, memory: true})
		slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	}
	return evs
}

// chaos starts the workers and the producer, carries out the schedule, and
// waits until the queue has drained or ctx ends; then it stops the workers
// with SIGTERM.
func (r *run) chaos(ctx context.Context) {
	for range r.cfg.Workers {
		if err := r.startWorker(); err != nil {
			r.res.fail("%v", err)
			return
		}
	}
	p := &producer{b: r.b, cfg: r.cfg, logf: r.logf}
	kp := &keylessProducer{b: r.lossy, cfg: r.cfg}
	produced, keyless := make(chan error, 1), make(chan error, 1)
	start := time.Now()
	go func() { produced <- p.run(ctx) }()
	go func() { keyless <- kp.run(ctx) }()
	r.logf("delivering %d messages at %d/s over %d facets to %d workers", r.cfg.Messages, r.cfg.Rate, r.cfg.Facets, r.cfg.Workers)
	for _, ev := range r.schedule() {
		if sleepUntil(ctx, start.Add(ev.at)) != nil {
			break
		}
		switch {
		case ev.memory:
			r.atMemoryLimit(ctx)
		case ev.redis:
			r.restartRedis(ctx)
		default:
			r.killWorker(ctx)
		}
	}
	if err := <-produced; err != nil {
		r.res.fail("the producer stopped after %d messages: %v", p.delivered.Load(), err)
	}
	if err := <-keyless; err != nil {
		r.res.fail("the keyless producer stopped after %d messages: %v", kp.delivered.Load(), err)
	}
	r.res.Delivered, r.res.DeliveryRetries = p.delivered.Load(), p.retries.Load()
	r.res.KeylessDelivered, r.res.KeylessUncertain = kp.delivered.Load(), kp.uncertain.Load()
	r.res.RepliesLost = r.proxy.Dropped()
	if r.cfg.afterProduction != nil {
		r.cfg.afterProduction(r)
	}
	r.logf("delivered %d messages (%d batches sent again) and %d without keys (%d uncertain); %d replies lost; waiting for the queue to drain",
		r.res.Delivered, r.res.DeliveryRetries, r.res.KeylessDelivered, r.res.KeylessUncertain, r.res.RepliesLost)
	r.drain(ctx)
	r.logf("SIGTERM to %d workers", len(r.running()))
	if err := terminateAll(r.running(), 30*time.Second); err != nil {
		r.res.fail("%v", err)
	}
}

// killWorker SIGKILLs a random running worker, counts the messages leased
// right after (the killed worker's leases among them: they can be handled
// again), and starts a replacement.
func (r *run) killWorker(ctx context.Context) {
	live := r.running()
	if len(live) == 0 {
		r.res.fail("every worker has died")
		return
	}
	p := live[r.rng.IntN(len(live))]
	p.kill()
	n := r.leased(ctx)
	r.res.Kills++
	r.res.AllowedDuplicates += n
	r.logf("SIGKILL worker %d: %d messages leased", p.id, n)
	if err := r.startWorker(); err != nil {
		r.res.fail("%v", err)
	}
}

// restartRedis SIGKILLs redis-server and starts it again on the same port
// and directory, where it reloads its append-only file. The messages leased
// at the kill may be handled again: their leases are counted before the
// kill and after the restart (which also counts those leased since), and
// the larger count is allowed.
func (r *run) restartRedis(ctx context.Context) {
	before := r.leased(ctx)
	r.srv.Kill()
	r.logf("SIGKILL redis-server (%d messages leased); down for %v", before, r.cfg.RedisDowntime)
	_ = sleepUntil(ctx, time.Now().Add(r.cfg.RedisDowntime))
	if err := r.srv.Restart(); err != nil {
		r.res.fail("restart redis-server: %v", err)
		return
	}
	after := r.leased(ctx)
	r.res.RedisRestarts++
	r.res.AllowedDuplicates += max(before, after)
	r.logf("redis-server restarted from its append-only file: %d messages leased", after)
}

// atMemoryLimit sets redis-server's maxmemory just below the memory it uses,
// under noeviction, for Config.MemoryLimit: deliveries are refused while the
// workers go on pulling, nacking and acking, which frees memory. Then the
// limit is lifted.
func (r *run) atMemoryLimit(ctx context.Context) {
	used, err := r.usedMemory(ctx)
	if err == nil {
		err = r.rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err()
	}
	if err == nil {
		err = r.rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used*9/10, 10)).Err()
	}
	if err != nil {
		r.res.fail("set redis-server's memory limit: %v", err)
		return
	}
	r.res.MemoryLimits++
	r.logf("redis-server at its memory limit (%d bytes used) for %v", used, r.cfg.MemoryLimit)
	_ = sleepUntil(ctx, time.Now().Add(r.cfg.MemoryLimit))
	for ctx.Err() == nil {
		// A restart in the meantime lifted the limit already; try until
		// Redis answers.
		if err := r.rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err == nil {
			break
		}
		_ = sleepUntil(ctx, time.Now().Add(50*time.Millisecond))
	}
	r.logf("memory limit lifted")
}

// usedMemory is INFO memory's used_memory.
func (r *run) usedMemory(ctx context.Context) (int64, error) {
	info, err := r.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}

// drain waits until every delivered message was handled and nothing is
// left ready, leased or delayed. It gives up when nothing has changed for
// four leases (time enough for every lease to expire and its message to be
// handled again), or when ctx ends.
func (r *run) drain(ctx context.Context) {
	stall := max(4*r.cfg.Lease, 2*time.Second)
	var last string
	changed := time.Now()
	for ctx.Err() == nil && time.Since(changed) < stall {
		st, err := r.b.Stats(ctx, queueName)
		handled, herr := r.rdb.HLen(ctx, recordKey).Result()
		if err == nil && herr == nil {
			if st.Ready+st.InFlight+st.Delayed == 0 && handled >= r.res.Delivered+r.res.KeylessDelivered {
				return
			}
			if now := fmt.Sprint(st, handled); now != last {
				last, changed = now, time.Now()
			}
		}
		_ = sleepUntil(ctx, time.Now().Add(100*time.Millisecond))
	}
	r.logf("gave up waiting: nothing changed for %v", stall)
}
