package scheduler

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Spec tells when a schedule runs. Next returns the first run strictly
// after t; it must depend on t alone, so that every process computes the
// same runs. Every and Cron return Specs; cron.Schedule values fit too.
type Spec interface {
	Next(t time.Time) time.Time
}

// every is a Spec that runs at each multiple of d since the Unix epoch.
type every time.Duration

// Every returns a Spec that runs every d, at the multiples of d since the
// Unix epoch (every minute runs on the minute; every hour on the hour, UTC),
// so that all processes agree on the runs. d must be at least a second.
func Every(d time.Duration) Spec { return every(d) }

// Next returns the first multiple of the period after t.
func (e every) Next(t time.Time) time.Time {
	d := time.Duration(e)
	if d <= 0 {
		return time.Time{}
	}
	return t.Truncate(d).Add(d).In(t.Location())
}

// String renders the Spec as Cron reads it back.
func (e every) String() string { return "@every " + time.Duration(e).String() }

// cronSpec keeps a parsed cron expression with its text.
type cronSpec struct {
	cron.Schedule
	expr string
}

// String is the expression the Spec was parsed from.
func (c cronSpec) String() string { return c.expr }

// parser reads standard five-field expressions (minute, hour, day of month,
// month, day of week), descriptors such as "@daily", and an optional
// "CRON_TZ=<zone> " prefix.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Cron parses a cron expression: five fields (minute, hour, day of month,
// month, day of week), a descriptor (@yearly, @monthly, @weekly, @daily,
// @hourly, or @every <duration>, which is Every), with an optional
// "CRON_TZ=<IANA zone> " prefix. Without a prefix, the expression is read in
// Schedule.Location. Parsing is github.com/robfig/cron/v3's.
func Cron(expr string) (Spec, error) {
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidSchedule, expr, err)
	}
	if d, ok := s.(cron.ConstantDelaySchedule); ok {
		// robfig's @every counts from the time it is given; ours is
		// aligned, so that every process computes the same runs.
		return Every(d.Delay), nil
	}
	return cronSpec{Schedule: s, expr: expr}, nil
}

// MustCron is Cron for expressions known to be valid; it panics on an
// invalid one.
func MustCron(expr string) Spec {
	s, err := Cron(expr)
	if err != nil {
		panic(err)
	}
	return s
}

// describe renders a Spec for List.
func describe(s Spec) string {
	if st, ok := s.(fmt.Stringer); ok {
		return st.String()
	}
	return fmt.Sprintf("%T", s)
}
