package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The shared setup serves reads and writes through a FailoverClient, and
// the replica has what the primary acknowledged once WAIT says so.
func TestSharedSentinel(t *testing.T) {
	t.Parallel()
	s := SharedSentinel(t)
	rdb := RealSentinel(t)
	ctx := t.Context()
	key := Namespace(t) + ":k"
	if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	primary, err := s.Primary(ctx)
	if err != nil || primary != s.DataNodes()[0].Addr() {
		t.Fatalf("Primary() = %s, %v; want %s", primary, err, s.DataNodes()[0].Addr())
	}
	if len(s.SentinelAddrs()) != 3 {
		t.Fatalf("SentinelAddrs() = %v, want 3", s.SentinelAddrs())
	}
}

// Killing the primary makes the sentinels promote the replica, and a
// FailoverClient follows by itself, with what WAIT confirmed intact.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sentinel setup and waits for a failover")
	}
	t.Parallel()
	s := StartSentinelT(t, SentinelOptions{DownAfter: 500 * time.Millisecond})
	rdb := s.Client()
	defer func() { _ = rdb.Close() }()
	ctx := t.Context()
	key := Namespace(t) + ":k"
	if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// WAIT on the connection of the write: a pipeline on one client.
	var wait *redis.IntCmd
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, "v", 0)
		wait = redis.NewIntCmd(ctx, "wait", 1, 5000)
		_ = p.Process(ctx, wait)
		return nil
	}); err != nil || wait.Val() != 1 {
		t.Fatalf("SET then WAIT 1 = %d, %v", wait.Val(), err)
	}
	old, err := s.KillPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := s.WaitPromoted(old, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if promoted == old || s.Node(promoted) == nil {
		t.Fatalf("promoted %s, old %s", promoted, old)
	}
	Eventually(t, 15*time.Second, func() bool {
		got, err := rdb.Get(ctx, key).Result()
		return err == nil && got == "v"
	}, "the failover client to read %s from the promoted %s", key, promoted)
}

// Close removes every directory, with the primary killed.
func TestSentinelClose(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sentinel setup of its own")
	}
	t.Parallel()
	s := StartSentinelT(t, SentinelOptions{})
	if _, err := s.KillPrimary(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, n := range append(s.DataNodes(), s.sentinels...) {
		for _, d := range append([]string{n.Dir()}, n.extraDirs...) {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind: %v", d, err)
			}
		}
	}
}

// FAIRWAY_SENTINEL=0 skips the Sentinel tests, even when Redis is
// required.
func TestSentinelSkip(t *testing.T) {
	t.Setenv(envSentinel, "0")
	t.Setenv(envRequireRedis, "1")
	for name, fn := range map[string]func(testing.TB){
		"SharedSentinel": func(tb testing.TB) { SharedSentinel(tb) },
		"StartSentinelT": func(tb testing.TB) { StartSentinelT(tb, SentinelOptions{}) },
	} {
		if f := runFake(fn); !f.skipped || f.failed || !strings.Contains(f.output(), envSentinel+"=0") {
			t.Errorf("%s: skipped=%v failed=%v: %s", name, f.skipped, f.failed, f.output())
		}
	}
}

// A missing sentinel binary is reported like a missing redis-server.
func TestStartSentinelNotFound(t *testing.T) {
	t.Setenv(envSentinelBinary, filepath.Join(t.TempDir(), "no-redis-sentinel"))
	s, err := StartSentinel(SentinelOptions{})
	if err == nil {
		_ = s.Close()
		t.Fatal("StartSentinel succeeded with a missing binary")
	}
	if !errors.Is(err, ErrRedisServerNotFound) {
		t.Fatalf("err = %v; want ErrRedisServerNotFound", err)
	}
}

// The replica of StartReplicatedT gets the primary's writes; paused, it
// confirms none until it is resumed.
func TestStartReplicatedPause(t *testing.T) {
	t.Parallel()
	primary, replica := StartReplicatedT(t)
	p, r := primary.Client(), replica.Client()
	defer func() { _ = p.Close(); _ = r.Close() }()
	ctx := t.Context()
	key := Namespace(t) + ":k"
	setWait := func(timeoutMs int) int64 {
		t.Helper()
		var wait *redis.IntCmd
		if _, err := p.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, key, "v", 0)
			wait = redis.NewIntCmd(ctx, "wait", 1, timeoutMs)
			return pipe.Process(ctx, wait)
		}); err != nil {
			t.Fatal(err)
		}
		return wait.Val()
	}
	if n := setWait(2000); n != 1 {
		t.Fatalf("WAIT 1 = %d with the replica running", n)
	}
	if got, err := r.Get(ctx, key).Result(); err != nil || got != "v" {
		t.Fatalf("replica GET = %q, %v", got, err)
	}
	replica.Pause()
	if n := setWait(200); n != 0 {
		t.Fatalf("WAIT 1 = %d with the replica paused, want 0", n)
	}
	replica.Resume()
	Eventually(t, 10*time.Second, func() bool { return setWait(2000) == 1 }, "the resumed replica to confirm")
}
