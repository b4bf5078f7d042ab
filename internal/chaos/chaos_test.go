package chaos

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// tiny is a run of a few seconds, with the workers kept busy (they handle
// 160 messages a second of the 200 delivered), so that every kill finds
// messages leased.
func tiny() Config {
	return Config{
		Messages: 600, Facets: 20, Workers: 2, Concurrency: 4, Kills: 2, RedisRestarts: 1, Repartition: 2,
		RedisDowntime: 300 * time.Millisecond, Rate: 200, WorkTime: 50 * time.Millisecond,
		Lease: 500 * time.Millisecond, Timeout: time.Minute,
		KeylessMessages: 200, ReplyLoss: 0.05, MemoryLimit: 500 * time.Millisecond,
	}
}

// runT runs cfg with the worker binary bin.
func runT(t *testing.T, bin string, cfg Config) *Result {
	t.Helper()
	cfg.WorkerBin = bin
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
	return res
}

// TestRun makes two small chaos runs: a plain one, which must pass every
// check, and a sabotaged one, whose loss the checks must catch.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and worker processes")
	}
	t.Parallel()
	if srv, err := testutil.StartServer(); err != nil {
		if errors.Is(err, testutil.ErrRedisServerNotFound) && os.Getenv("FAIRWAY_REQUIRE_REDIS") != "1" {
			t.Skipf("redis-server not found: %v", err)
		}
		t.Fatal(err)
	} else if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	bin, err := BuildWorker(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("passes", func(t *testing.T) {
		t.Parallel()
		res := runT(t, bin, tiny())
		if !res.OK() {
			t.Fatalf("checks failed: %v", res.Failures)
		}
		if res.Kills != 2 || res.RedisRestarts != 1 || res.MemoryLimits != 1 || res.RepliesLost == 0 ||
			res.Handled < 600+res.KeylessDelivered || res.Handled > 600+res.KeylessDelivered+res.KeylessUncertain ||
			res.KeylessDelivered == 0 || res.AllowedDuplicates == 0 {
			t.Errorf("result %+v: want 2 kills, 1 restart, 1 memory limit, replies lost, 600 handled and the keyless "+
				"messages delivered (and perhaps the uncertain ones), some leases at the kills", res)
		}
	})
	// Every worker is killed once the messages are delivered, and none
	// replaces them: the run must report the messages never handled and
	// left in the queue, and fail.
	t.Run("catches loss", func(t *testing.T) {
		t.Parallel()
		cfg := tiny()
		cfg.Kills, cfg.RedisRestarts, cfg.WorkTime = 0, 0, 200*time.Millisecond
		cfg.afterProduction = func(r *run) {
			for _, p := range r.running() {
				p.kill()
			}
		}
		res := runT(t, bin, cfg)
		if res.OK() || res.Lost == 0 || res.Stuck == 0 {
			t.Fatalf("result %+v: want a failure with messages lost and left over", res)
		}
	})
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	cfg := Short()
	r := &run{cfg: cfg}
	r.rng = newRand(1)
	evs := r.schedule()
	if len(evs) != cfg.Kills+cfg.RedisRestarts+1 {
		t.Fatalf("%d events, want %d kills and restarts and a memory limit", len(evs), cfg.Kills+cfg.RedisRestarts)
	}
	restarts, limits := 0, 0
	for i, ev := range evs {
		if ev.at <= 0 || ev.at >= cfg.production() || i > 0 && ev.at <= evs[i-1].at {
			t.Errorf("event %d at %v: not in order within the production window %v", i, ev.at, cfg.production())
		}
		if ev.memory {
			limits++
		}
		if ev.redis {
			restarts++
			if i == 0 || i == len(evs)-1 {
				t.Errorf("a restart is event %d of %d; want it in the middle", i, len(evs))
			}
		}
	}
	if restarts != cfg.RedisRestarts || limits != 1 {
		t.Errorf("%d restarts and %d memory limits, want %d and 1", restarts, limits, cfg.RedisRestarts)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{Short(), Long(), tiny()} {
		if err := cfg.validate(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	bad := Short()
	bad.Lease = time.Millisecond
	if err := bad.validate(); err == nil {
		t.Error("a 1ms lease passed")
	}
	bad = Short()
	bad.Messages = 0
	if err := bad.validate(); err == nil {
		t.Error("0 messages passed")
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	res := &Result{Config: Short(), Kills: 6, RedisRestarts: 1, MemoryLimits: 1, RepliesLost: 40, KeylessDelivered: 1900, KeylessUncertain: 100,
		Handled: 9950, Duplicates: 3, AllowedDuplicates: 90, Elapsed: 31 * time.Second}
	var b strings.Builder
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := "| 8000 | 1900 (100) | 50 | 3 × 10 | 6 | 1 | 1 | 40 | 0 | 9950 | 0 | 3 | 90 | 0 | 0 | hold | 31s | PASS |"
	if !strings.Contains(b.String(), want) || strings.Count(b.String(), "\n") != 3 {
		t.Errorf("table:\n%s\nwant the row %s", b.String(), want)
	}
	res.fail("%d lost", 2)
	res.Invariants = "broken"
	b.Reset()
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| broken | 31s | FAIL |") || !strings.Contains(b.String(), "FAIL: 2 lost") {
		t.Errorf("failed table:\n%s", b.String())
	}
}
