package chaos

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// keylessProducer delivers messages with no idempotency keys, in small
// batches, through the proxy that loses replies. It never sends a batch
// again: a batch whose call failed in all go-redis's tries may or may not
// have been queued, and counts as uncertain. So nothing hides a script run
// twice: a delivery whose reply was lost and that go-redis sent again must
// still be queued once.
type keylessProducer struct {
	b         *broker.Broker
	cfg       Config
	delivered atomic.Int64 // messages of calls that returned nil
	uncertain atomic.Int64 // messages of calls that failed
}

// keylessFacets is how many facets the keyless producer spreads its
// messages over, apart from the other producer's.
const keylessFacets = 10

func (p *keylessProducer) run(ctx context.Context) error {
	start := time.Now()
	// It delivers over the same window as the other producer.
	window := p.cfg.production()
	for first := 0; first < p.cfg.KeylessMessages; {
		due := start.Add(window * time.Duration(first) / time.Duration(p.cfg.KeylessMessages))
		if err := sleepUntil(ctx, due); err != nil {
			return err
		}
		n := min(1+first%4, p.cfg.KeylessMessages-first) // singles and small batches
		ds := make([]broker.Delivery, n)
		for i := range ds {
			ds[i] = broker.Delivery{
				Topic: topic,
				Facet: fmt.Sprintf("keyless-%d", (first+i)%keylessFacets),
				Body:  fmt.Appendf(nil, `{"keyless":%d}`, first+i),
			}
		}
		first += n
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.b.DeliverBatch(callCtx, ds)
		cancel()
		if err != nil {
			p.uncertain.Add(int64(n))
		} else {
			p.delivered.Add(int64(n))
		}
	}
	return nil
}
