package testutil

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// Backend is one Redis implementation that tests can run against.
type Backend struct {
	// Name identifies the backend; ForEachBackend uses it as the subtest
	// name.
	Name string
	// Client returns a new client to the backend, closed when t finishes.
	// It skips or fails t if the backend is unavailable.
	Client func(t testing.TB) redis.UniversalClient
}

// Backends returns the backends every storage test should pass on:
// "miniredis" (a fresh in-memory server per call) and "redis-server" (the
// shared real server, see RealRedis).
func Backends() []Backend {
	return []Backend{
		{
			Name: "miniredis",
			Client: func(t testing.TB) redis.UniversalClient {
				t.Helper()
				_, client := MiniRedis(t)
				return client
			},
		},
		{
			Name: "redis-server",
			Client: func(t testing.TB) redis.UniversalClient {
				t.Helper()
				return RealRedis(t)
			},
		},
	}
}

// ForEachBackend runs fn as a parallel subtest of t, named after the
// backend, once for each of Backends. On the shared real server, fn must
// keep its keys under a Namespace.
func ForEachBackend(t *testing.T, fn func(t *testing.T, rdb redis.UniversalClient)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Client(t))
		})
	}
}

// ClusterBackend is the shared Redis Cluster (see RealCluster) as a
// backend, named "redis-cluster". Tests on it must keep every key of one
// script or transaction in one hash slot, and must not assume that a
// command without a key (KEYS, SCAN, FLUSHDB, SCRIPT FLUSH) reaches every
// node.
func ClusterBackend() Backend {
	return Backend{
		Name: "redis-cluster",
		Client: func(t testing.TB) redis.UniversalClient {
			t.Helper()
			return RealCluster(t)
		},
	}
}

// ForEachBackendWithCluster is ForEachBackend on Backends and
// ClusterBackend. It is opt-in: a test runs on the cluster only when it
// asks to.
func ForEachBackendWithCluster(t *testing.T, fn func(t *testing.T, rdb redis.UniversalClient)) {
	t.Helper()
	for _, b := range append(Backends(), ClusterBackend()) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.Client(t))
		})
	}
}
