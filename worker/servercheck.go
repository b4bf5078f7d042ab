package worker

import (
	"context"
	"errors"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// serverCheckInterval is how often the worker asks Redis again how it
// treats memory pressure: an operator may change the policy at any time.
const serverCheckInterval = 30 * time.Second

// checkServer reports, in the logs and in Ready, a Redis that may evict keys
// (broker.CheckServer), from the start and every serverCheckInterval, until
// ctx ends: a service (see supervisor). A check that cannot reach Redis
// changes nothing: the fetcher reports outages.
func (r *runner) checkServer(ctx context.Context) error {
	warned := ""
	t := time.NewTicker(serverCheckInterval)
	defer t.Stop()
	for {
		_, err := r.b.CheckServer(ctx)
		switch {
		case err == nil:
			r.w.health.setServerErr(nil)
			warned = ""
		case errors.Is(err, broker.ErrEvictingRedis):
			r.w.health.setServerErr(err)
			if err.Error() != warned {
				r.cfg.Logger.Warn("fairway: "+err.Error(), "ready", false)
				warned = err.Error()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
