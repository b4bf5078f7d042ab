package cli_test

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/scheduler"
)

// TestSchedulesLastRunNever checks that a schedule no run of which has
// happened lists its last run as never (null in --json), not as the time
// it was added.
func TestSchedulesLastRunNever(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s, err := scheduler.New(e.b, scheduler.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(scheduler.Schedule{Name: "nightly", Spec: scheduler.MustCron("0 2 * * *"), Topic: "report"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	testutil.Eventually(t, 5*time.Second, func() bool {
		all, err := scheduler.List(t.Context(), e.b)
		return err == nil && len(all) == 1
	}, "the scheduler records its schedule")
	cancel()
	<-done

	r := e.run(0, "schedules")
	if !regexp.MustCompile(`(?m)^nightly\s.*\snever\s+\d{4}-\d\d-\d\dT02:00:00Z\s*$`).MatchString(r.stdout) {
		t.Errorf("schedules: want LAST-RUN never and the next run at 02:00:\n%s", r.stdout)
	}
	r = e.run(0, "schedules", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("schedules --json = %q: %v", r.stdout, err)
	}
	if v, ok := rows[0]["last_run"]; !ok || v != nil {
		t.Errorf("schedules --json last_run = %v (present %v), want null", v, ok)
	}
}
