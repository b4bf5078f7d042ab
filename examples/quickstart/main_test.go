package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// doneAt parses run's "<tenant> done at message <n>" lines.
func doneAt(t *testing.T, out string) map[string]int {
	t.Helper()
	got := make(map[string]int)
	re := regexp.MustCompile(`(?m)^(\S+)\s+done at message\s+(\d+)`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		got[m[1]], _ = strconv.Atoi(m[2])
	}
	return got
}

// checkFair checks that the output shows every small tenant done within
// the first rounds of the rotation, not behind the flood.
func checkFair(t *testing.T, out string) {
	t.Helper()
	done := doneAt(t, out)
	// Round-robin over 1+3 facets: each small tenant's last message comes
	// by round smallSize, so by message 4*smallSize, give or take the
	// handlers of one batch starting out of order.
	limit := (1+len(smallTenants))*smallSize + workers
	for _, tenant := range smallTenants {
		if n := done[tenant]; n < 1 || n > limit {
			t.Errorf("%s done at pull %d, want 1..%d\n%s", tenant, n, limit, out)
		}
	}
	total := floodSize + len(smallTenants)*smallSize
	if done[bigTenant] != total || !strings.Contains(out, fmt.Sprintf("of %d\n", total)) {
		t.Errorf("%s done at message %d, want %d (every message handled once)\n%s", bigTenant, done[bigTenant], total, out)
	}
}

func TestRunEmbedded(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, ""); err != nil {
		t.Fatal(err)
	}
	checkFair(t, out.String())
}

func TestRunRedisURL(t *testing.T) {
	srv := testutil.StartServerT(t)
	var out bytes.Buffer
	if err := run(t.Context(), &out, "redis://"+srv.Addr()+"/0"); err != nil {
		t.Fatal(err)
	}
	checkFair(t, out.String())
	rdb := srv.Client()
	defer func() { _ = rdb.Close() }()
	left, err := rdb.Keys(t.Context(), "quickstart:{"+queue+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	// Replay markers of the last calls (broker.Config.ReplayWindow) expire
	// on their own; nothing else may be left.
	var kept []string
	for _, k := range left {
		ttl, err := rdb.PTTL(t.Context(), k).Result()
		if !strings.Contains(k, "}:r:") || err != nil || ttl <= 0 || ttl > broker.ReplayWindowDefault {
			kept = append(kept, k)
		}
	}
	if len(kept) > 0 {
		t.Errorf("keys left behind: %v", kept)
	}
}

func TestRunBadURL(t *testing.T) {
	err := run(t.Context(), &bytes.Buffer{}, "mysql://nope")
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("run with a bad URL: %v, want a REDIS_URL error", err)
	}
}
