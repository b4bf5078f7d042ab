package scheduler

import (
	"errors"
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 10, 17, 42, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want time.Time
	}{
		{time.Minute, time.Date(2026, 3, 4, 10, 18, 0, 0, time.UTC)},
		{time.Hour, time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)},
		{15 * time.Second, time.Date(2026, 3, 4, 10, 17, 45, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := Every(tt.d).Next(at); !got.Equal(tt.want) {
			t.Errorf("Every(%v).Next(%v) = %v, want %v", tt.d, at, got, tt.want)
		}
		// On a run, the next one is a whole period later.
		if got := Every(tt.d).Next(tt.want); !got.Equal(tt.want.Add(tt.d)) {
			t.Errorf("Every(%v).Next(%v) = %v", tt.d, tt.want, got)
		}
	}
}

func TestCron(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC) // 08:00 in New York (EDT)
	tests := []struct {
		expr string
		loc  *time.Location
		want time.Time
	}{
		{"30 9 * * *", time.UTC, time.Date(2026, 7, 2, 9, 30, 0, 0, time.UTC)},
		{"30 9 * * *", ny, time.Date(2026, 7, 1, 13, 30, 0, 0, time.UTC)},
		{"CRON_TZ=America/New_York 30 9 * * *", time.UTC, time.Date(2026, 7, 1, 13, 30, 0, 0, time.UTC)},
		{"@hourly", time.UTC, time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC)},
		{"@every 5m", time.UTC, time.Date(2026, 7, 1, 12, 5, 0, 0, time.UTC)},
		{"0 0 * * MON", time.UTC, time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		spec, err := Cron(tt.expr)
		if err != nil {
			t.Fatalf("Cron(%q): %v", tt.expr, err)
		}
		sch := Schedule{Spec: spec, Location: tt.loc}
		if got := sch.next(at); !got.Equal(tt.want) {
			t.Errorf("%q in %v: next after %v = %v, want %v", tt.expr, tt.loc, at, got.UTC(), tt.want)
		}
	}
	for _, bad := range []string{"", "* * *", "61 * * * *", "@often", "CRON_TZ=Nowhere/Land * * * * *"} {
		if _, err := Cron(bad); !errors.Is(err, ErrInvalidSchedule) {
			t.Errorf("Cron(%q) = %v, want ErrInvalidSchedule", bad, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustCron of a bad expression did not panic")
		}
	}()
	MustCron("nope")
}
