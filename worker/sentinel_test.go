package worker_test

import (
	"testing"

	"github.com/fairwayhq/fairway/internal/testutil"
)

// A worker on a Sentinel-managed client (redis.NewFailoverClient) handles
// every message of several queues exactly once, fairly, and leaves every
// queue consistent.
func TestSentinelWorker(t *testing.T) {
	t.Parallel()
	spreadWorker(t, testutil.RealSentinel(t), []string{"a", "b", "c"})
}
