package chaos

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Config sizes a chaos run. Short and Long are the two presets.
type Config struct {
	// Messages is how many messages the producer delivers.
	Messages int
	// Facets is how many facets (tenants) they are spread over.
	Facets int
	// Workers is how many worker processes run at once.
	Workers int
	// Concurrency is each worker's FAIRWAY_CONCURRENCY.
	Concurrency int
	// Kills is how many times a random worker is SIGKILLed (and replaced).
	Kills int
	// RedisRestarts is how many times redis-server is SIGKILLed and
	// restarted.
	RedisRestarts int
	// RedisDowntime is how long redis-server stays down each time.
	RedisDowntime time.Duration
	// Repartition, when above 0, splits the queue into that many
	// partitions (broker.SetPartitions) once half the messages are
	// delivered, so the run also covers a change of partitioning under
	// kills: the old partition drains while the new ones fill.
	Repartition int
	// KeylessMessages is how many more messages a second producer
	// delivers, with no idempotency keys, through a proxy that loses
	// replies (ReplyLoss): it never sends a batch again, so a script that
	// ran twice because its reply was lost would queue a message twice.
	KeylessMessages int
	// ReplyLoss is the chance that the reply of a script call is lost,
	// after Redis ran it, on the connections of the keyless producer and of
	// every other worker (go-redis then sends the call again).
	ReplyLoss float64
	// MemoryLimit, when above 0, is how long redis-server runs at its
	// memory limit once, halfway through production: its maxmemory is set
	// just below the memory it uses (noeviction), so it refuses deliveries
	// while the workers go on.
	MemoryLimit time.Duration
	// Rate is how many messages a second the producer delivers.
	Rate int
	// WorkTime is how long the workers' handler works on each message.
	WorkTime time.Duration
	// Lease is the workers' lease duration: how long a killed worker's
	// messages wait before they are delivered again.
	Lease time.Duration
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Seed makes the choice and timing of kills repeatable; 0 picks one.
	Seed uint64
	// WorkerBin is the examples/worker binary; empty builds it.
	WorkerBin string
	// Dir keeps the logs of redis-server and the workers; empty makes a
	// temporary directory, removed when the run passes.
	Dir string
	// Log receives progress lines; nil discards them.
	Log io.Writer

	// afterProduction, in tests, sabotages the run once every message has
	// been delivered, to show that the checks catch it.
	afterProduction func(*run)
}

// Short is the run CI makes: about a minute.
func Short() Config {
	return Config{
		Messages: 8000, Facets: 50, Workers: 3, Concurrency: 10, Kills: 6, RedisRestarts: 1, RedisDowntime: time.Second,
		Repartition: 3, Rate: 300, WorkTime: 100 * time.Millisecond, Lease: 2 * time.Second, Timeout: 3 * time.Minute,
		KeylessMessages: 2000, ReplyLoss: 0.02, MemoryLimit: 2 * time.Second,
	}
}

// Long is the run of `make chaos`: a few minutes.
func Long() Config {
	return Config{
		Messages: 50000, Facets: 500, Workers: 5, Concurrency: 10, Kills: 40, RedisRestarts: 1, RedisDowntime: time.Second,
		Repartition: 4, Rate: 500, WorkTime: 80 * time.Millisecond, Lease: 2 * time.Second, Timeout: 10 * time.Minute,
		KeylessMessages: 10000, ReplyLoss: 0.02, MemoryLimit: 3 * time.Second,
	}
}

func (c Config) validate() error {
	switch {
	case c.Messages < 1, c.Facets < 1, c.Workers < 1, c.Concurrency < 1, c.Rate < 1:
		return errors.New("chaos: messages, facets, workers, concurrency and rate must be at least 1")
	case c.Kills < 0, c.RedisRestarts < 0, c.RedisDowntime < 0, c.WorkTime < 0, c.Repartition < 0,
		c.KeylessMessages < 0, c.MemoryLimit < 0:
		return errors.New("chaos: kills, redis restarts, downtime, work time, repartition, keyless messages and memory limit must not be negative")
	case c.ReplyLoss < 0 || c.ReplyLoss >= 0.5:
		return fmt.Errorf("chaos: reply loss %v is outside [0, 0.5)", c.ReplyLoss)
	case c.Lease < 100*time.Millisecond:
		return fmt.Errorf("chaos: lease %v is below 100ms", c.Lease)
	case c.Timeout <= 0:
		return errors.New("chaos: timeout must be positive")
	}
	return nil
}

// production is how long delivering every message takes at Rate.
func (c Config) production() time.Duration {
	return time.Duration(c.Messages) * time.Second / time.Duration(c.Rate)
}
