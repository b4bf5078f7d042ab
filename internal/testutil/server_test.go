package testutil

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// newClient returns a client to s, closed when t finishes.
func newClient(t *testing.T, s *Server) *redis.Client {
	t.Helper()
	c := s.Client()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// assertDown checks that s no longer answers, neither on a raw connection
// nor through c.
func assertDown(t *testing.T, s *Server, c *redis.Client) {
	t.Helper()
	if err := ping(s.Addr(), time.Second); err == nil {
		t.Fatal("server still answers PING")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("client PING succeeded on a stopped server")
	}
}

func TestStartServer(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q; want 127.0.0.1:<port>", s.Addr())
	}
	c := newClient(t, s)
	if got, err := c.Ping(t.Context()).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	want := map[string]string{
		"bind":           "127.0.0.1",
		"save":           "",
		"appendonly":     "no",
		"protected-mode": "yes",
		"dir":            s.Dir(),
	}
	for param, value := range want {
		got, err := c.ConfigGet(t.Context(), param).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got[param] != value {
			t.Errorf("CONFIG GET %s = %q; want %q", param, got[param], value)
		}
	}
}

func TestStartServerExtraArgs(t *testing.T) {
	t.Parallel()
	s := StartServerT(t, "--maxmemory", "1mb")
	got, err := newClient(t, s).ConfigGet(t.Context(), "maxmemory").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["maxmemory"] != "1048576" {
		t.Fatalf("maxmemory = %q; want 1048576", got["maxmemory"])
	}
}

func TestStartServerBadArgs(t *testing.T) {
	t.Parallel()
	if _, err := findServerBinary(); err != nil {
		t.Skip(err)
	}
	s, err := StartServer("--no-such-directive", "x")
	if err == nil {
		_ = s.Close()
		t.Fatal("StartServer with a bad directive succeeded")
	}
	if !strings.Contains(err.Error(), "redis-server log:") {
		t.Errorf("error %q does not include the server log", err)
	}
}

func TestStartServerNotFound(t *testing.T) {
	t.Setenv(envServerBinary, filepath.Join(t.TempDir(), "no-redis-server"))
	s, err := StartServer()
	if err == nil {
		_ = s.Close()
		t.Fatal("StartServer succeeded with a missing binary")
	}
	if !errors.Is(err, ErrRedisServerNotFound) {
		t.Fatalf("err = %v; want ErrRedisServerNotFound", err)
	}
}

func TestServerStopRestart(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	addr := s.Addr()
	c := newClient(t, s)
	key := Namespace(t) + ":k"
	if err := c.Set(t.Context(), key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertDown(t, s, c)
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	if err := s.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Addr() != addr {
		t.Fatalf("Addr() after Restart = %s; want %s", s.Addr(), addr)
	}
	// The old client reconnects by itself.
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING with old client after Restart: %v", err)
	}
	// Persistence is off, so the data is gone.
	if err := c.Get(t.Context(), key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after Restart: err = %v; want redis.Nil", err)
	}
}

func TestServerKillRestart(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	c := newClient(t, s)
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Kill() // no-op
	assertDown(t, s, c)
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

func TestServerRestartRunning(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	c := newClient(t, s)
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart of a running server: %v", err)
	}
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

func TestServerClose(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dir %s still exists after Close (stat err %v)", s.Dir(), err)
	}
	if err := s.Restart(); err == nil {
		t.Error("Restart after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestServerRestartAfterCrash(t *testing.T) {
	t.Parallel()
	s := StartServerT(t)
	c := newClient(t, s)
	// Kill the process behind the Server's back, as a crash would.
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart after crash: %v", err)
	}
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}
