package cli_test

import (
	"testing"
)

// fairway register with a queue's own pattern succeeds and changes
// nothing; with another it exits 1 naming both patterns and changes
// nothing; --replace changes it.
func TestRegisterPatternConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(0, "register", "reports", `^report\.`)
	e.run(0, "register", "reports", `^report\.`)
	r := e.run(1, "register", "reports", `^reports(\.|$)`)
	mustContain(t, r.stderr, "`^report\\.`", "`^reports(\\.|$)`", "--replace")
	r = e.run(0, "deliver", "--topic", "report.monthly", `{}`)
	mustContain(t, r.stdout, "[reports]")

	e.run(0, "register", "--replace", "reports", `^reports(\.|$)`)
	r = e.run(0, "deliver", "--topic", "reports.monthly", `{}`)
	mustContain(t, r.stdout, "[reports]")
	if st := e.stats("reports"); st.Ready != 2 {
		t.Fatalf("%d ready, want 2", st.Ready)
	}
	r = e.run(0, "deliver", "--topic", "report.monthly", `{}`)
	mustContain(t, r.stdout, "no queue's pattern matches")
}
