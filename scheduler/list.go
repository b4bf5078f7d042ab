package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/redis/go-redis/v9"
)

// Info describes a schedule, as List reports it.
type Info struct {
	Name     string
	Spec     string // "@every 1m0s", or the cron expression
	Location string // the time zone of Spec
	Topic    string // "" when the schedule builds its messages
	Facet    string
	CatchUp  CatchUp
	// LastRun is the last run delivered or skipped by catch-up; zero
	// before the first, even though the schedule has a mark from when it
	// was added (runs before that are never delivered).
	LastRun time.Time
	// NextRun is the first run after now; zero when Spec is not one of
	// Every or Cron, and so cannot be read back.
	NextRun time.Time
}

// description is what a Scheduler records about a schedule for List.
type description struct {
	Spec     string  `json:"spec"`
	Location string  `json:"location"`
	Topic    string  `json:"topic,omitempty"`
	Facet    string  `json:"facet,omitempty"`
	CatchUp  CatchUp `json:"catch_up"`
}

func registryKey(ns string) string { return ns + ":{~schedules}:all" }

// register records sch's description for List.
func (s *Scheduler) register(ctx context.Context, sch Schedule) error {
	d := description{Spec: describe(sch.Spec), Location: sch.Location.String(), CatchUp: sch.CatchUp}
	if sch.Build == nil {
		d.Topic, d.Facet = sch.Topic, sch.Facet
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := s.b.Client().HSet(ctx, registryKey(s.b.Namespace()), sch.Name, raw).Err(); err != nil {
		s.cfg.Logger.Warn("fairway: cannot record schedule", "schedule", sch.Name, "err", err)
		return err
	}
	return nil
}

// Schedules lists this scheduler's schedules, by name, with their last runs
// read from Redis.
func (s *Scheduler) Schedules(ctx context.Context) ([]Info, error) {
	all, err := List(ctx, s.b)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, sch := range s.list() {
		i, found := slices.BinarySearchFunc(all, sch.Name, func(x Info, n string) int { return strings.Compare(x.Name, n) })
		info := Info{}
		if found {
			info = all[i]
		}
		info.Name, info.Spec, info.Location, info.CatchUp = sch.Name, describe(sch.Spec), sch.Location.String(), sch.CatchUp
		info.Topic, info.Facet = "", ""
		if sch.Build == nil {
			info.Topic, info.Facet = sch.Topic, sch.Facet
		}
		info.NextRun = sch.next(s.cfg.Now())
		out = append(out, info)
	}
	return out, nil
}

// List returns every schedule that a Scheduler on b's namespace has run, by
// name, with its last and next runs. It costs one round trip for the
// registry and one for the last runs.
func List(ctx context.Context, b *broker.Broker) ([]Info, error) {
	rdb, ns := b.Client(), b.Namespace()
	all, err := rdb.HGetAll(ctx, registryKey(ns)).Result()
	if err != nil {
		return nil, fmt.Errorf("scheduler: list: %w", err)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range all {
			if !yield(n) {
				return
			}
		}
	})
	marks, ran := make([]*redis.StringCmd, len(names)), make([]*redis.StringCmd, len(names))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			marks[i] = p.Get(ctx, ns+":{~schedule:"+n+"}:last")
			ran[i] = p.Get(ctx, ns+":{~schedule:"+n+"}:ran")
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("scheduler: list: %w", err)
	}
	out := make([]Info, 0, len(names))
	now := time.Now()
	for i, n := range names {
		var d description
		_ = json.Unmarshal([]byte(all[n]), &d) // a bad entry lists with its name only
		info := Info{Name: n, Spec: d.Spec, Location: d.Location, Topic: d.Topic, Facet: d.Facet, CatchUp: d.CatchUp}
		info.LastRun = lastRun(d, ran[i], marks[i])
		info.NextRun = nextOf(d, now)
		out = append(out, info)
	}
	return out, nil
}

// lastRun reads a schedule's last run: its own key when there is one (0:
// never). A schedule recorded before that key existed has only its mark,
// which is the last run when it falls on one of the schedule's runs, and
// otherwise the time the schedule was added, when no run happened.
func lastRun(d description, ran, mark *redis.StringCmd) time.Time {
	if ms, err := ran.Int64(); err == nil {
		if ms <= 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
	ms, err := mark.Int64()
	if err != nil {
		return time.Time{}
	}
	t := time.UnixMilli(ms)
	if next := nextOf(d, t.Add(-time.Millisecond)); !next.Equal(t) {
		return time.Time{}
	}
	return t
}

// nextOf reads a recorded Spec back to compute its next run.
func nextOf(d description, now time.Time) time.Time {
	spec, err := Cron(d.Spec)
	if err != nil {
		return time.Time{}
	}
	loc, err := time.LoadLocation(d.Location)
	if err != nil {
		loc = time.UTC
	}
	return spec.Next(now.In(loc))
}

// Forget removes a schedule's record, its mark and its last run from Redis, for a
// schedule no process runs any more. A Scheduler still running it records
// it again, and starts afresh: runs before that are not caught up.
func Forget(ctx context.Context, b *broker.Broker, name string) error {
	rdb, ns := b.Client(), b.Namespace()
	p := ns + ":{~schedule:" + name + "}:"
	if err := rdb.HDel(ctx, registryKey(ns), name).Err(); err != nil {
		return fmt.Errorf("scheduler: forget %q: %w", name, err)
	}
	if err := rdb.Del(ctx, p+"last", p+"ran").Err(); err != nil {
		return fmt.Errorf("scheduler: forget %q: %w", name, err)
	}
	return nil
}
