package scheduler

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// ErrInvalidSchedule means a Schedule or Config is not usable: a bad name,
// no Spec, a bad cron expression, a name registered twice.
var ErrInvalidSchedule = errors.New("scheduler: invalid schedule")

// Defaults of Config's and Schedule's fields.
const (
	CheckIntervalDefault = time.Minute
	LockTTLDefault       = time.Minute
	MaxCatchUpDefault    = 100
	// IdempotencyWindowDefault is how long a run's idempotency key is kept.
	IdempotencyWindowDefault = 7 * 24 * time.Hour
)

// CatchUp says what to deliver for runs that were missed, because no
// scheduler was running when they fell due or their delivery failed.
type CatchUp int

const (
	// CatchUpLast delivers the latest missed run once, and skips the rest.
	CatchUpLast CatchUp = iota
	// CatchUpNone skips every missed run: only a run that falls due while a
	// scheduler is running (checked within Config.CheckInterval, and at
	// least a second, of its time) is delivered.
	CatchUpNone
	// CatchUpAll delivers every missed run, oldest first, up to
	// Schedule.MaxCatchUp (the latest ones); the rest are skipped.
	CatchUpAll
)

func (c CatchUp) String() string {
	switch c {
	case CatchUpLast:
		return "last"
	case CatchUpNone:
		return "none"
	case CatchUpAll:
		return "all"
	}
	return fmt.Sprintf("CatchUp(%d)", int(c))
}

// Schedule is a recurring delivery.
type Schedule struct {
	// Name identifies the schedule across processes: [A-Za-z0-9._-]{1,128}.
	// Processes that register the same name share its runs.
	Name string
	// Spec tells when it runs: Every, Cron or MustCron. Required.
	Spec Spec
	// Location is the time zone in which Spec reads wall-clock times (a
	// cron expression's hours and days). Defaults to UTC.
	Location *time.Location
	// Topic, Facet and Body make the message delivered for each run,
	// unless Build is set. Facet defaults to Name, so that each schedule
	// takes its own turns in a queue.
	Topic string
	Facet string
	Body  []byte
	// Build, when set, makes the messages delivered for the run at time
	// run instead (an empty Facet defaults to Name). It may be called again
	// for a run whose delivery failed.
	Build func(ctx context.Context, run time.Time) ([]broker.Delivery, error)
	// CatchUp is what to deliver for missed runs. Defaults to CatchUpLast.
	CatchUp CatchUp
	// MaxCatchUp bounds the missed runs CatchUpAll delivers. Defaults to
	// 100.
	MaxCatchUp int
}

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (s Schedule) withDefaults() Schedule {
	s.Location = cmp.Or(s.Location, time.UTC)
	s.MaxCatchUp = cmp.Or(s.MaxCatchUp, MaxCatchUpDefault)
	s.Facet = cmp.Or(s.Facet, s.Name)
	return s
}

func (s Schedule) validate() error {
	switch {
	case !validName.MatchString(s.Name):
		return fmt.Errorf("%w: name %q is not [A-Za-z0-9._-]{1,128}", ErrInvalidSchedule, s.Name)
	case s.Spec == nil:
		return fmt.Errorf("%w %q: no Spec", ErrInvalidSchedule, s.Name)
	case s.CatchUp < CatchUpLast || s.CatchUp > CatchUpAll:
		return fmt.Errorf("%w %q: unknown catch-up policy %d", ErrInvalidSchedule, s.Name, s.CatchUp)
	case s.MaxCatchUp < 1:
		return fmt.Errorf("%w %q: MaxCatchUp %d is below 1", ErrInvalidSchedule, s.Name, s.MaxCatchUp)
	case s.Build == nil && s.Topic == "":
		return fmt.Errorf("%w %q: no Topic and no Build", ErrInvalidSchedule, s.Name)
	}
	if e, ok := s.Spec.(every); ok && time.Duration(e) < time.Second {
		return fmt.Errorf("%w %q: every %v is below 1s", ErrInvalidSchedule, s.Name, time.Duration(e))
	}
	if s.Spec.Next(time.Now().In(s.Location)).IsZero() {
		return fmt.Errorf("%w %q: its Spec never runs", ErrInvalidSchedule, s.Name)
	}
	return nil
}

// Config configures a Scheduler. The zero value is usable.
type Config struct {
	// CheckInterval is the longest a scheduler sleeps between two checks of
	// its schedules in Redis; it wakes for each run in any case. It bounds
	// how late a run held up by a failure is retried. Defaults to 1m.
	CheckInterval time.Duration
	// LockTTL is how long a process may take to deliver one run before
	// another may try it. Defaults to 1m.
	LockTTL time.Duration
	// IdempotencyWindow is how long each run's idempotency key is kept.
	// Defaults to 7 days.
	IdempotencyWindow time.Duration
	// Now is the clock runs are computed by. Defaults to time.Now.
	Now func() time.Time
	// Logger receives the scheduler's logs. Defaults to the broker's
	// Config.Logger.
	Logger *slog.Logger
}

func (c Config) withDefaults(b *broker.Broker) Config {
	c.CheckInterval = cmp.Or(c.CheckInterval, CheckIntervalDefault)
	c.LockTTL = cmp.Or(c.LockTTL, LockTTLDefault)
	c.IdempotencyWindow = cmp.Or(c.IdempotencyWindow, IdempotencyWindowDefault)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = b.Config().Logger
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.CheckInterval < time.Millisecond:
		return fmt.Errorf("%w: CheckInterval %v is below 1ms", ErrInvalidSchedule, c.CheckInterval)
	case c.LockTTL < time.Millisecond:
		return fmt.Errorf("%w: LockTTL %v is below 1ms", ErrInvalidSchedule, c.LockTTL)
	case c.IdempotencyWindow < time.Second:
		return fmt.Errorf("%w: IdempotencyWindow %v is below 1s", ErrInvalidSchedule, c.IdempotencyWindow)
	}
	return nil
}

// Scheduler delivers the runs of its schedules. Add schedules, then call
// Run; any number of processes may run Schedulers with the same schedules.
type Scheduler struct {
	b     *broker.Broker
	cfg   Config
	owner string // tells this scheduler's locks from others'

	mu        sync.Mutex
	schedules []Schedule
	byName    map[string]bool
}

// New returns a Scheduler delivering through b.
func New(b *broker.Broker, cfg Config) (*Scheduler, error) {
	cfg = cfg.withDefaults(b)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Scheduler{b: b, cfg: cfg, owner: hex.EncodeToString(id[:]), byName: map[string]bool{}}, nil
}

// Add registers a schedule. Call it before Run; a schedule added while Run
// runs is picked up at its next check.
func (s *Scheduler) Add(sch Schedule) error {
	sch = sch.withDefaults()
	if err := sch.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName[sch.Name] {
		return fmt.Errorf("%w: %q added twice", ErrInvalidSchedule, sch.Name)
	}
	s.byName[sch.Name] = true
	s.schedules = append(s.schedules, sch)
	return nil
}

// Run delivers runs as they fall due until ctx ends, and returns nil then.
// Redis errors are logged and retried at the next check; they never end
// Run.
func (s *Scheduler) Run(ctx context.Context) error {
	registered := map[string]bool{}
	for {
		now := s.cfg.Now()
		next := now.Add(s.cfg.CheckInterval)
		for _, sch := range s.list() {
			if !registered[sch.Name] {
				registered[sch.Name] = s.register(ctx, sch) == nil
			}
			due, err := s.check(ctx, sch, now)
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("fairway: schedule check failed; retrying", "schedule", sch.Name, "err", err)
			}
			if due.Before(next) {
				next = due
			}
		}
		t := time.NewTimer(max(next.Sub(s.cfg.Now()), time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (s *Scheduler) list() []Schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Schedule(nil), s.schedules...)
}

// next is sch's first run after t.
func (s Schedule) next(t time.Time) time.Time { return s.Spec.Next(t.In(s.Location)) }
