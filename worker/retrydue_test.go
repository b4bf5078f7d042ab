package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// TestShortRetriesDoNotWaitForThePoll checks that a worker wakes for its
// own retries when they fall due: with a 100ms RetryBackoff and a 5s
// PollInterval, three attempts run about 100ms apart, not 5s. The queue is
// empty while each handler runs, so the fetcher is asleep when the nack
// schedules the retry: it must learn of it then.
func TestShortRetriesDoNotWaitForThePoll(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		const poll = 5 * time.Second
		var mu sync.Mutex
		var started []time.Time
		w := worker.New(b, quick(worker.Config{
			PollInterval: poll,
			RetryBackoff: func(int) time.Duration { return 100 * time.Millisecond },
		}))
		w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
			mu.Lock()
			defer mu.Unlock()
			started = append(started, time.Now())
			if m.Attempt < 3 {
				return errors.New("transient")
			}
			return nil
		})
		startWorker(t, w, b)
		// Let the fetcher go idle on its poll before the message arrives,
		// so the message comes by the wake-up and the retries by neither.
		time.Sleep(100 * time.Millisecond)
		deliverN(t, b, "f", 1)
		testutil.Eventually(t, 3*poll, drained(t, b), "not acked after retries")
		mu.Lock()
		defer mu.Unlock()
		if len(started) != 3 {
			t.Fatalf("%d attempts, want 3", len(started))
		}
		// Half the poll interval leaves a wide margin on a loaded
		// machine, and still fails when a retry waits for the poll.
		for i := 1; i < len(started); i++ {
			if gap := started[i].Sub(started[i-1]); gap >= poll/2 {
				t.Errorf("attempt %d started %v after attempt %d: waited for the %v poll, not the 100ms retry", i+1, gap, i, poll)
			}
		}
	})
}
