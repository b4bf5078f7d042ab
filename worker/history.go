package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/brokerlink"
)

// historyInterval is how often the counts of handled messages are written to
// the broker's history (through internal/brokerlink), which dashboards chart.
const historyInterval = 5 * time.Second

// history counts handled messages per queue in memory and adds them to the
// broker's per-minute history every historyInterval and on stop, so that
// handling a message costs no Redis call of its own.
type history struct {
	b   *broker.Broker
	log *slog.Logger

	mu     sync.Mutex
	counts map[string]broker.HistoryCounts
}

func newHistory(b *broker.Broker, log *slog.Logger) *history {
	return &history{
		b: b, log: log,
		counts: make(map[string]broker.HistoryCounts),
	}
}

// count records the outcome of one message: acked messages count as
// processed, retried and dead-lettered ones as failed; released and lost
// ones are not counted.
func (h *history) count(queue string, o Outcome) {
	if o != OutcomeAck && o != OutcomeRetry && o != OutcomeDead {
		return
	}
	h.mu.Lock()
	c := h.counts[queue]
	if o == OutcomeAck {
		c.Processed++
	} else {
		c.Failed++
	}
	h.counts[queue] = c
	h.mu.Unlock()
}

// run flushes the counts every historyInterval and, when ctx ends, writes
// the last counts and returns: a service (see supervisor).
func (h *history) run(ctx context.Context) error {
	t := time.NewTicker(historyInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.flush()
		case <-ctx.Done():
			h.flush()
			return nil
		}
	}
}

// flush adds the counts so far to the broker's history. On a Redis error
// they are kept for the next flush; history is best effort, so a worker
// that cannot reach Redis at its last flush loses them.
func (h *history) flush() {
	h.mu.Lock()
	counts := h.counts
	h.counts = make(map[string]broker.HistoryCounts)
	h.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := brokerlink.AddHistory(ctx, h.b, time.Now(), counts); err != nil {
		h.log.Warn("fairway: could not record throughput history; will retry", "err", err)
		h.mu.Lock()
		for q, c := range counts {
			cur := h.counts[q]
			cur.Processed += c.Processed
			cur.Failed += c.Failed
			h.counts[q] = cur
		}
		h.mu.Unlock()
	}
}
