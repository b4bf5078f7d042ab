package limitbench

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestWorkerProcess is a worker process of TestShortRun, which runs this
// test binary again with WorkerEnv set; otherwise it does nothing.
func TestWorkerProcess(t *testing.T) {
	if !IsWorker() {
		t.Skip("only run as a worker process by TestShortRun")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := WorkerMain(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestShortRun makes the -short run, which must pass every check.
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and worker processes")
	}
	if srv, err := testutil.StartServer(); err != nil {
		if errors.Is(err, testutil.ErrRedisServerNotFound) && os.Getenv("FAIRWAY_REQUIRE_REDIS") != "1" {
			t.Skipf("redis-server not found: %v", err)
		}
		t.Fatal(err)
	} else if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := Short()
	cfg.WorkerCommand = func() ([]string, error) {
		return []string{os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1"}, nil
	}
	cfg.Dir = t.TempDir()
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if !res.OK() {
		t.Fatalf("%d check(s) failed", len(res.Failures))
	}
	if res.Kill == nil || res.Kill.Leases != cfg.Concurrency || res.Kill.Repulled != res.Kill.Leases {
		t.Fatalf("kill = %+v; want the killed worker's %d leases ended and their messages pulled again", res.Kill, cfg.Concurrency)
	}
}

func TestMaxWindow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ts       []int64
		per      int64
		most     int
		at       int64
		describe string
	}{
		{nil, 1000, 0, 0, "no pulls"},
		{[]int64{5}, 1000, 1, 5, "one pull"},
		{[]int64{0, 999}, 1000, 2, 0, "both inside [0, 1000)"},
		{[]int64{0, 1000}, 1000, 1, 0, "the window's end is open"},
		{[]int64{0, 10, 10, 10, 1005, 1009}, 1000, 5, 10, "the fullest starts later"},
	} {
		most, at := maxWindow(c.ts, c.per)
		if most != c.most || at != c.at {
			t.Errorf("%s: maxWindow(%v, %d) = %d at %d, want %d at %d", c.describe, c.ts, c.per, most, at, c.most, c.at)
		}
	}
}

// The checks catch each kind of violation, from records made up to hold
// one each.
func TestAnalyzeCatches(t *testing.T) {
	t.Parallel()
	cfg := Short()
	// 50 pulls a second over 50 small facets in turn, up to 8 running at
	// once, for 10 s: within every limit. Each case adds one violation.
	base := func() []record {
		var recs []record
		for i := range 500 {
			recs = append(recs, record{
				pulled: int64(i * 20), facet: smallFacet(i % 50), attempt: 1,
				id: "m" + strconv.Itoa(i), pid: "1", entered: int64(i*20 + 1), running: 1 + i%8,
			})
		}
		return recs
	}
	extra := func(at int64, facet, id string) record {
		return record{pulled: at, facet: facet, attempt: 1, id: id, pid: "1", entered: at, running: 1}
	}
	for _, c := range []struct {
		name, want string
		change     func([]record) []record
	}{
		{"none", "", func(r []record) []record { return r }},
		{"queue rate", "(a)", func(r []record) []record {
			// 60 more in the first second: 110, of the 109 allowed.
			for i := range 60 {
				r = append(r, extra(int64(i), smallFacet(i%50), "q"+strconv.Itoa(i)))
			}
			return r
		}},
		{"facet rate", "(b)", func(r []record) []record {
			for i := range 12 {
				r = append(r, extra(int64(2000+i), floodFacet, "f"+strconv.Itoa(i)))
			}
			return r
		}},
		{"cap", "(c)", func(r []record) []record { r[7].running = cfg.Cap + 1; return r }},
		{"rate", "(d)", func(r []record) []record {
			var sparse []record
			for i := 0; i < len(r); i += 10 {
				sparse = append(sparse, r[i])
			}
			return sparse
		}},
		{"fairness", "(e)", func(r []record) []record {
			return append(r, extra(9500, smallFacet(0), "x1"), extra(9700, smallFacet(0), "x2"))
		}},
		{"missing pull", "(f)", func(r []record) []record { r[3].attempt = 2; return r }},
	} {
		res := &Result{Config: cfg}
		analyze(cfg, c.change(base()), res)
		got := strings.Join(res.Failures, "\n")
		if c.want == "" && got != "" || c.want != "" && (len(res.Failures) != 1 || !strings.HasPrefix(got, c.want)) {
			t.Errorf("%s: failures %q, want one, %s", c.name, got, c.want)
		}
	}
}

// A message of a killed worker pulled again before its lease ended fails
// (g).
func TestRepullBeforeLeaseEnd(t *testing.T) {
	t.Parallel()
	k := &KillReport{killedAt: 1000, ends: map[string]int64{"m|1": 3000}}
	res := &Result{}
	checkRepulls([]record{{pulled: 2999, id: "m", attempt: 2}}, k, res)
	if !res.earlyRepull || k.Repulled != 1 {
		t.Fatalf("a pull at 2999 of a lease ending at 3000: %+v, %v", k, res.Failures)
	}
	res = &Result{}
	checkRepulls([]record{{pulled: 3000, id: "m", attempt: 2}}, k, res)
	if !res.OK() || k.FirstEnd != 2*time.Second {
		t.Fatalf("a pull at the lease's end: %+v, %v", k, res.Failures)
	}
}
