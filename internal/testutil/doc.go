// Package testutil holds helpers shared by Fairway's tests: a real
// redis-server process per test binary, throwaway miniredis instances,
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
//   - FAIRWAY_REQUIRE_REDIS=1: fail tests that need a real redis-server
//     when it is missing or does not start, instead of skipping them.
package testutil
