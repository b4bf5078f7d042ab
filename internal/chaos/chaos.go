package chaos

import (
	"context"
	"fmt"
	"time"
)

// event is one act of chaos, at an offset from the start of production.
type event struct {
	at    time.Duration
	redis bool // restart redis-server; else kill a worker
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
	produced := make(chan error, 1)
	start := time.Now()
	go func() { produced <- p.run(ctx) }()
	r.logf("delivering %d messages at %d/s over %d facets to %d workers", r.cfg.Messages, r.cfg.Rate, r.cfg.Facets, r.cfg.Workers)
	for _, ev := range r.schedule() {
		if sleepUntil(ctx, start.Add(ev.at)) != nil {
			break
		}
		if ev.redis {
			r.restartRedis(ctx)
		} else {
			r.killWorker(ctx)
		}
	}
	if err := <-produced; err != nil {
		r.res.fail("the producer stopped after %d messages: %v", p.delivered.Load(), err)
	}
	r.res.Delivered, r.res.DeliveryRetries = p.delivered.Load(), p.retries.Load()
	if r.cfg.afterProduction != nil {
		r.cfg.afterProduction(r)
	}
	r.logf("delivered %d messages (%d batches sent again); waiting for the queue to drain", r.res.Delivered, r.res.DeliveryRetries)
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
			if st.Ready+st.InFlight+st.Delayed == 0 && handled >= r.res.Delivered {
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
