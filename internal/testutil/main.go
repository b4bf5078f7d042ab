package testutil

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs the tests of m, then stops the shared redis-server, the
// shared Redis Cluster and the shared Sentinel setup if a test started them, then, if everything passed, fails the run when goroutines
// are still alive (see go.uber.org/goleak), and exits with the result.
// opts are passed to goleak.Find, to ignore known background goroutines.
//
// Use it as the whole body of TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M, opts ...goleak.Option) {
	os.Exit(runMain(m, opts))
}

// runMain implements Main and returns the exit code.
func runMain(m *testing.M, opts []goleak.Option) int {
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testutil: stop shared redis-server, cluster or sentinel: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		return code
	}
	if err := goleak.Find(opts...); err != nil {
		fmt.Fprintf(os.Stderr, "testutil: goroutines still running after the tests: %v\n", err)
		return 1
	}
	return 0
}
