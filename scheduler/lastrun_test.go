package scheduler

import (
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// lastRunOf lists b's schedules and returns name's LastRun.
func lastRunOf(t *testing.T, s *Scheduler, name string) time.Time {
	t.Helper()
	all, err := List(t.Context(), s.b)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range all {
		if i.Name == name {
			return i.LastRun
		}
	}
	t.Fatalf("%q not listed in %+v", name, all)
	return time.Time{}
}

// TestLastRunIsNeverUntilDelivered checks that a new schedule's mark, set
// to when it was added, is not reported as a run: LastRun stays zero until
// a run is delivered or skipped.
func TestLastRunIsNeverUntilDelivered(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		s, sch := registeredTick(t, rdb)
		t0 := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
		if _, err := s.check(t.Context(), sch, t0); err != nil {
			t.Fatal(err)
		}
		if got := lastRunOf(t, s, "tick"); !got.IsZero() {
			t.Fatalf("a schedule with no run yet lists LastRun %v, want never (zero)", got)
		}
		if mine, err := s.Schedules(t.Context()); err != nil || len(mine) != 1 || !mine[0].LastRun.IsZero() {
			t.Fatalf("Schedules = %+v, %v: want LastRun never", mine, err)
		}
		if _, err := s.check(t.Context(), sch, t0.Add(31*time.Second)); err != nil {
			t.Fatal(err)
		}
		run := t0.Add(30 * time.Second)
		if got := lastRunOf(t, s, "tick"); !got.Equal(run) {
			t.Fatalf("after the run at %v was delivered, LastRun = %v", run, got)
		}
		// A run skipped by catch-up counts as the last run too.
		if _, err := s.check(t.Context(), sch, run.Add(10*time.Minute+30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, want := lastRunOf(t, s, "tick"), run.Add(10*time.Minute); !got.Equal(want) {
			t.Fatalf("after catching up to %v, LastRun = %v", want, got)
		}
	})
}

// TestLastRunOfOldData checks schedules recorded before the last run had
// its own key: the mark alone is the last run when it is one of the
// schedule's runs, and never when it is the time the schedule was added;
// either way it still stops earlier runs from being delivered.
func TestLastRunOfOldData(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		s, sch := registeredTick(t, rdb)
		run := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
		for _, c := range []struct {
			mark time.Time
			want time.Time
		}{
			{run, run}, // raised by a delivered run
			{run.Add(1234 * time.Millisecond), time.Time{}}, // set when the schedule was added
		} {
			if err := rdb.Set(t.Context(), s.keys("tick")[0], c.mark.UnixMilli(), 0).Err(); err != nil {
				t.Fatal(err)
			}
			if got := lastRunOf(t, s, "tick"); !got.Equal(c.want) {
				t.Errorf("old mark %v lists LastRun %v, want %v", c.mark, got, c.want)
			}
		}
		if _, err := s.check(t.Context(), sch, run.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := runsIn(t, s.b); len(got) != 0 {
			t.Errorf("the old mark did not hold: delivered %v", got)
		}
		if _, err := s.check(t.Context(), sch, run.Add(61*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, want := lastRunOf(t, s, "tick"), run.Add(time.Minute); !got.Equal(want) {
			t.Errorf("after a run on old data, LastRun = %v, want %v", got, want)
		}
	})
}

// registeredTick registers a schedule "tick" every minute, as Run does
// before its first check, and returns its scheduler.
func registeredTick(t *testing.T, rdb redis.UniversalClient) (*Scheduler, Schedule) {
	t.Helper()
	sch := Schedule{Name: "tick", Spec: Every(time.Minute), Topic: "tick"}
	s := newScheduler(t, newBroker(t, rdb), Config{}, sch)
	sch = sch.withDefaults()
	if err := s.register(t.Context(), sch); err != nil {
		t.Fatal(err)
	}
	return s, sch
}
