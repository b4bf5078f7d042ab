package limitbench

import (
	"errors"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// Config is one run's workload and limits.
type Config struct {
	// Duration is how long the worker processes run.
	Duration time.Duration
	// Workers is how many worker processes run at once, each with
	// Concurrency handlers.
	Workers, Concurrency int
	// Facets is the number of small facets, each given PerFacet messages;
	// the flood facet gets FloodMessages and FloodPriority turns in the
	// rotation for each small facet's one, so that its share would exceed
	// its rate limit, which then holds it back.
	Facets, PerFacet, FloodMessages, FloodPriority int
	// QueueRate is the queue's rate limit, over all facets; FacetRate each
	// facet's (SetRateLimit).
	QueueRate, FacetRate broker.RateLimit
	// Cap is the queue's global concurrency (SetGlobalConcurrency).
	Cap int
	// WorkMin and WorkMax bound how long a handler works, drawn evenly in
	// between.
	WorkMin, WorkMax time.Duration
	// Lease is the workers' lease duration.
	Lease time.Duration
	// Kill makes the run SIGKILL one worker process halfway and start
	// another in its place.
	Kill bool
	// MinRate is the least fraction of the queue's rate the run must
	// achieve, pulls over the time from the first pull to the last: a
	// check of timing, not of exactness, so it has a margin for a loaded
	// machine.
	MinRate float64
	// WorkerCommand returns the command that starts one worker process
	// (WorkerEnv is added to its environment); the default runs this
	// program's own executable again, with no arguments.
	WorkerCommand func() ([]string, error)
	// Dir keeps the workers' logs; default a temporary directory, removed
	// unless the run failed.
	Dir string
	// Log receives progress; nil for none.
	Log func(format string, args ...any)
}

// Long is the run of make bench-limits: a minute.
func Long() Config {
	return Config{
		Duration: 60 * time.Second, Workers: 5, Concurrency: 4,
		Facets: 50, PerFacet: 300, FloodMessages: 3000, FloodPriority: 20,
		QueueRate: broker.RateLimit{N: 100, Per: time.Second, Burst: 10},
		FacetRate: broker.RateLimit{N: 10, Per: time.Second, Burst: 2},
		Cap:       8, WorkMin: 5 * time.Millisecond, WorkMax: 75 * time.Millisecond,
		Lease: 2 * time.Second, Kill: true, MinRate: 0.9,
	}
}

// Short is a run of a few seconds, for tests: the same limits, lease and
// checks, on a smaller backlog, with a wide margin on the rate (a loaded
// machine, or the race detector, slows the workers; the other checks are
// exact whatever the timing).
func Short() Config {
	c := Long()
	c.Duration, c.PerFacet, c.FloodMessages, c.MinRate = 8*time.Second, 60, 600, 0.3
	return c
}

func (c Config) validate() error {
	switch {
	case c.Duration <= 0:
		return fmt.Errorf("limitbench: duration %v is not positive", c.Duration)
	case c.Workers < 1 || c.Concurrency < 1:
		return fmt.Errorf("limitbench: %d workers of %d handlers; both must be at least 1", c.Workers, c.Concurrency)
	case c.Kill && c.Workers < 2:
		return errors.New("limitbench: a kill needs at least 2 workers, one to keep the queue going")
	case c.Facets < 1 || c.PerFacet < 1 || c.FloodMessages < 1 || c.FloodPriority < 1:
		return errors.New("limitbench: facets, messages and the flood's priority must be at least 1")
	case c.QueueRate.IsZero() || c.FacetRate.IsZero():
		return errors.New("limitbench: both rate limits must be set")
	case c.Cap < 1:
		return fmt.Errorf("limitbench: cap %d is below 1", c.Cap)
	case c.WorkMin < 0 || c.WorkMax < c.WorkMin:
		return fmt.Errorf("limitbench: work time [%v, %v] is empty", c.WorkMin, c.WorkMax)
	case c.Lease < 100*time.Millisecond:
		return fmt.Errorf("limitbench: lease %v is below 100ms", c.Lease)
	}
	return nil
}
