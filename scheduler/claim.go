package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/redis/go-redis/v9"
)

// scriptMark returns a schedule's mark, first setting it to ARGV[1] (now)
// when the schedule is new, so that it delivers no run from before it
// existed. A new schedule's last run is recorded as 0, never: the mark is
// where delivery starts, not a run that happened.
// KEYS[1] the mark, KEYS[2] the last run; ARGV[1] now (Unix ms). Returns
// the mark.
var scriptMark = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('SET', KEYS[2], '0', 'NX') end
return tonumber(redis.call('GET', KEYS[1]))
`)

// scriptClaim takes the lock to deliver one run, unless the run is at or
// behind the mark (delivered or skipped) or another process holds the lock.
// KEYS[1] the mark, KEYS[2] the lock; ARGV[1] the run (Unix ms), ARGV[2] the
// owner, ARGV[3] the lock's expiry (ms). Returns 1 when claimed, 0 when the
// run is done, -1 when another process holds the lock. A claim the owner
// already holds answers 1 again: a claim whose reply was lost, sent again
// by the client, must not look like a rival's, or the run would wait for
// the lock to expire.
var scriptClaim = redis.NewScript(`
if tonumber(redis.call('GET', KEYS[1]) or 0) >= tonumber(ARGV[1]) then return 0 end
local lock = ARGV[1] .. '|' .. ARGV[2]
if redis.call('GET', KEYS[2]) == lock then return 1 end
if not redis.call('SET', KEYS[2], lock, 'NX', 'PX', ARGV[3]) then return -1 end
return 1
`)

// scriptDone ends a claim: it raises the mark and the last run to the run
// when the run was delivered (ARGV[3] = '1'), and drops the lock if the
// owner holds it. With no lock held it just raises them, to skip runs.
// KEYS[1] the mark, KEYS[2] the lock, KEYS[3] the last run; ARGV[1] the run
// (Unix ms), ARGV[2] the owner, ARGV[3] '1' to raise the mark. Returns 1.
var scriptDone = redis.NewScript(`
if ARGV[3] == '1' then
  for _, k in ipairs({KEYS[1], KEYS[3]}) do
    if tonumber(redis.call('GET', k) or 0) < tonumber(ARGV[1]) then redis.call('SET', k, ARGV[1]) end
  end
end
if redis.call('GET', KEYS[2]) == ARGV[1] .. '|' .. ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
`)

// maxScan bounds the runs computed for one check, for a schedule that was
// down for very long (a year of minutes is half that).
const maxScan = 1_000_000

// keys returns the keys of schedule name: its mark (below which no run is
// delivered), its lock, and its last run (delivered or skipped; 0 before
// the first).
func (s *Scheduler) keys(name string) []string {
	p := s.b.Namespace() + ":{~schedule:" + name + "}:"
	return []string{p + "last", p + "lock", p + "ran"}
}

// check delivers sch's runs that are due at now, as its catch-up policy
// says, and returns when sch should be checked again.
func (s *Scheduler) check(ctx context.Context, sch Schedule, now time.Time) (time.Time, error) {
	retry := now.Add(min(s.cfg.CheckInterval, time.Second))
	keys := s.keys(sch.Name)
	markMS, err := scriptMark.Run(ctx, s.b.Client(), []string{keys[0], keys[2]}, now.UnixMilli()).Int64()
	if err != nil {
		return retry, fmt.Errorf("scheduler: read the mark of %q: %w", sch.Name, err)
	}
	deliver, skipTo := s.plan(sch, time.UnixMilli(markMS), now)
	if !skipTo.IsZero() {
		if err := scriptDone.Run(ctx, s.b.Client(), keys, skipTo.UnixMilli(), "", "1").Err(); err != nil {
			return retry, fmt.Errorf("scheduler: skip runs of %q: %w", sch.Name, err)
		}
		s.cfg.Logger.Info("fairway: skipped missed runs", "schedule", sch.Name, "until", skipTo, "catch_up", sch.CatchUp)
	}
	for _, run := range deliver {
		done, err := s.deliverRun(ctx, sch, run, keys)
		if err != nil || !done {
			return retry, err // another process holds the lock: see soon whether it delivered
		}
	}
	return sch.next(now), nil
}

// plan picks, among sch's runs after mark and up to now, the ones to
// deliver (oldest first) and the latest to skip (zero: none).
func (s *Scheduler) plan(sch Schedule, mark, now time.Time) (deliver []time.Time, skipTo time.Time) {
	keep := 1
	if sch.CatchUp == CatchUpAll {
		keep = sch.MaxCatchUp
	}
	var due []time.Time // the latest keep runs
	var skipped time.Time
	n := 0
	for t := sch.next(mark); !t.IsZero() && !t.After(now); t = sch.next(t) {
		if n++; n > maxScan {
			// Too far behind to list: skip to now.
			return nil, now
		}
		if len(due) == keep {
			skipped, due = due[0], due[1:]
		}
		due = append(due, t)
	}
	if sch.CatchUp == CatchUpNone && len(due) == 1 && now.Sub(due[0]) >= max(s.cfg.CheckInterval, time.Second) {
		skipped, due = due[0], nil // missed, not on time
	}
	return due, skipped
}

// deliverRun claims run, delivers it and marks it done. done is false when
// another process holds the lock.
func (s *Scheduler) deliverRun(ctx context.Context, sch Schedule, run time.Time, keys []string) (done bool, err error) {
	rdb, ms := s.b.Client(), run.UnixMilli()
	claimed, err := scriptClaim.Run(ctx, rdb, keys, ms, s.owner, s.cfg.LockTTL.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("scheduler: claim run %v of %q: %w", run, sch.Name, err)
	}
	switch claimed {
	case 0:
		return true, nil // delivered or skipped by another process
	case -1:
		return false, nil
	}
	derr := s.send(ctx, sch, run)
	raise := "1"
	if derr != nil {
		raise = "0"
	}
	// A fresh context: the claim must end even when ctx just did.
	end, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := scriptDone.Run(end, rdb, keys, ms, s.owner, raise).Err(); err != nil && derr == nil {
		// Delivered, but not marked: the lock expires, and the next claim
		// of the run is stopped by the idempotency key.
		return false, fmt.Errorf("scheduler: mark run %v of %q: %w", run, sch.Name, err)
	}
	if derr != nil {
		return false, fmt.Errorf("scheduler: deliver run %v of %q: %w", run, sch.Name, derr)
	}
	s.cfg.Logger.Debug("fairway: delivered scheduled run", "schedule", sch.Name, "run", run)
	return true, nil
}

// send delivers the messages of one run, each with an idempotency key of
// the run.
func (s *Scheduler) send(ctx context.Context, sch Schedule, run time.Time) error {
	ds := []broker.Delivery{{Topic: sch.Topic, Facet: sch.Facet, Body: sch.Body}}
	if sch.Build != nil {
		var err error
		if ds, err = sch.Build(ctx, run.In(sch.Location)); err != nil {
			return err
		}
	}
	key := "schedule:" + sch.Name + ":" + strconv.FormatInt(run.UnixMilli(), 10)
	for i := range ds {
		d := &ds[i]
		d.Facet = cmp.Or(d.Facet, sch.Name)
		d.IdempotencyKey = key
		if len(ds) > 1 {
			d.IdempotencyKey = key + ":" + strconv.Itoa(i)
		}
		d.IdempotencyWindow = s.cfg.IdempotencyWindow
		h := map[string]string{HeaderSchedule: sch.Name, HeaderRun: run.UTC().Format(time.RFC3339Nano)}
		maps.Copy(h, d.Headers)
		d.Headers = h
	}
	if len(ds) == 0 {
		return nil
	}
	return s.b.DeliverBatch(ctx, ds)
}

// Headers set on every scheduled delivery.
const (
	HeaderSchedule = "fairway-schedule" // the schedule's name
	HeaderRun      = "fairway-run"      // the run's time, RFC 3339, UTC
)
