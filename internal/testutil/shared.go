package testutil

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// envRequireRedis, set to "1", turns skips for a missing redis-server
// into failures.
const envRequireRedis = "FAIRWAY_REQUIRE_REDIS"

// shared is the real server shared by all tests of one test binary.
var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// errSharedStopped is reported to RealRedis calls made after Main has
// stopped the shared server.
var errSharedStopped = errors.New("shared redis-server already stopped by testutil.Main")

// sharedServer starts the shared server on first use.
func sharedServer() (*Server, error) {
	shared.once.Do(func() {
		shared.srv, shared.err = StartServer()
	})
	return shared.srv, shared.err
}

// stopShared closes the shared server, the shared cluster and the shared
// Sentinel setup if they were started. Later calls to RealRedis,
// RealCluster and RealSentinel fail instead of starting new ones.
func stopShared() error {
	clusterErr := errors.Join(sharedCluster.stop(), sharedSentinel.stop())
	shared.once.Do(func() { shared.err = errSharedStopped })
	if shared.srv == nil {
		return clusterErr
	}
	err := shared.srv.Close()
	shared.srv, shared.err = nil, errSharedStopped
	return errors.Join(err, clusterErr)
}

// RealRedis returns a new client to the real redis-server shared by the
// whole test binary, starting the server on first use. The client is
// closed when t finishes. Tests must keep their keys under a Namespace:
// the shared server is never flushed.
//
// If redis-server is missing or fails to start, RealRedis skips t, or
// fails it when FAIRWAY_REQUIRE_REDIS=1.
func RealRedis(t testing.TB) *redis.Client {
	t.Helper()
	srv, err := sharedServer()
	if err != nil {
		redisUnavailable(t, err)
		return nil
	}
	return clientClosedAtEnd(t, srv.Client())
}

// redisUnavailable skips t because err kept redis-server from running, or
// fails it when FAIRWAY_REQUIRE_REDIS=1.
func redisUnavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(envRequireRedis) == "1" {
		t.Fatalf("redis-server unavailable and %s=1: %v", envRequireRedis, err)
		return
	}
	if errors.Is(err, ErrRedisCLINotFound) {
		t.Skipf("redis-cli not found; it creates Redis Clusters; install it (apt-get install redis-tools) "+
			"or set %s=1 to fail instead (%v)", envRequireRedis, err)
		return
	}
	if errors.Is(err, ErrRedisServerNotFound) {
		t.Skipf("redis-server not found; install it (apt-get install redis-server) "+
			"or set %s=1 to fail instead (%v)", envRequireRedis, err)
		return
	}
	t.Skipf("redis-server failed to start; set %s=1 to fail instead: %v", envRequireRedis, err)
}

// sharedSetup is a setup (a cluster, a Sentinel setup) shared by every test
// of one test binary: started on first use, closed by Main, and refused
// after that.
type sharedSetup[T interface{ Close() error }] struct {
	once    sync.Once
	v       T
	started bool
	err     error
	stopped error // the error of every use after stop
}

// get returns the setup, starting it on first use; if it is unavailable it
// skips t (fails it when FAIRWAY_REQUIRE_REDIS=1) and returns the zero T.
func (s *sharedSetup[T]) get(t testing.TB, start func() (T, error)) T {
	t.Helper()
	s.once.Do(func() {
		s.v, s.err = start()
		s.started = s.err == nil
	})
	if s.err != nil {
		redisUnavailable(t, s.err)
		var zero T
		return zero
	}
	return s.v
}

// stop closes the setup if it was started; later uses fail instead of
// starting a new one.
func (s *sharedSetup[T]) stop() error {
	s.once.Do(func() { s.err = s.stopped })
	if !s.started {
		return nil
	}
	err := s.v.Close()
	var zero T
	s.v, s.started, s.err = zero, false, s.stopped
	return err
}

// closedAtEnd is what a Start...T helper returns: v, closed when t finishes
// (a failure to close fails t), or, when err says the setup could not
// start, the zero value after skipping t (failing it when
// FAIRWAY_REQUIRE_REDIS=1).
func closedAtEnd[T interface{ Close() error }](t testing.TB, v T, err error) T {
	t.Helper()
	if err != nil {
		redisUnavailable(t, err)
		var zero T
		return zero
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("testutil: %v", err)
		}
	})
	return v
}

// clientClosedAtEnd returns client, closed when t finishes.
func clientClosedAtEnd[C interface{ Close() error }](t testing.TB, client C) C {
	t.Cleanup(func() { _ = client.Close() })
	return client
}
