// Package testutil holds helpers shared by Fairway's tests: a real
// redis-server process per test binary, a real Redis Cluster (three
// masters, started on first use), a real Sentinel setup (a primary, a
// replica and three sentinels, started on first use), throwaway miniredis instances,
// per-test key namespaces, a backend matrix for running one test against
// both, and polling helpers that replace sleeps.
//
// A package that uses the shared server should stop it, and check for
// leaked goroutines, from its TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
//
// Every listener and every connection made by this package stays on
// 127.0.0.1.
//
// Environment variables:
//
//   - FAIRWAY_REDIS_SERVER: path or name of the redis-server binary
//     (default: redis-server found on PATH).
//   - FAIRWAY_REDIS_CLI: path or name of the redis-cli binary that
//     creates clusters (default: redis-cli on PATH, or next to
//     redis-server).
//   - FAIRWAY_REQUIRE_REDIS=1: fail tests that need a real redis-server
//     (or redis-cli, for a cluster) when it is missing or does not start,
//     instead of skipping them.
//   - FAIRWAY_REDIS_SENTINEL: path or name of the sentinel binary
//     (default: redis-sentinel on PATH, else redis-server --sentinel).
//   - FAIRWAY_CLUSTER=0: skip the tests that need a Redis Cluster.
//   - FAIRWAY_SENTINEL=0: skip the tests that need Redis Sentinel.
package testutil
