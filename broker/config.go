package broker

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Config's fields.
const (
	NamespaceDefault         = "fairway"
	LeaseDurationDefault     = 30 * time.Second
	MaxAttemptsDefault       = 25
	DeadLetterCapDefault     = 10000
	MaxMessageBytesDefault   = 1 << 20
	IdempotencyWindowDefault = 24 * time.Hour
	ReclaimBatchDefault      = 100
	DrainGraceDefault        = 10 * time.Second
	ReplicaAckTimeoutDefault = time.Second
	ReplayWindowDefault      = 15 * time.Second
)

// Limits on names and values.
const (
	// MaxQueueNameBytes is the longest queue name.
	MaxQueueNameBytes = 128
	// MaxNameBytes is the longest facet, topic, pattern or idempotency key.
	MaxNameBytes = 1024
	// MaxPriority is the highest facet priority.
	MaxPriority = 1000
	// MaxPullBatch is the most messages one PullN may lease.
	MaxPullBatch = 10000
	// MaxAttemptsLimit is the largest budget of deliveries a message may
	// be given (Config.MaxAttempts, WithMaxAttempts, SetMaxAttempts): a
	// larger one is a mistake, not a policy.
	MaxAttemptsLimit = 10000
)

// Config configures a Broker. The zero value is usable: every field has a
// default.
type Config struct {
	// Namespace prefixes every key and channel, so several applications can
	// share one Redis. Only [A-Za-z0-9._-], at most 64 bytes.
	// Defaults to "fairway".
	Namespace string
	// Facet derives a message's facet (usually its tenant) in Deliver.
	// Defaults to msg["facet"] as a string, else "default".
	Facet func(msg map[string]any) string
	// Topic derives a message's topic in Deliver.
	// Defaults to msg["topic"], else msg["type"], else "default".
	Topic func(msg map[string]any) string
	// LeaseDuration is how long a pulled message stays leased before it goes
	// back to its queue. Defaults to 30s.
	LeaseDuration time.Duration
	// MaxAttempts is how many deliveries a message gets before it becomes a
	// dead letter, whether its handler failed or its lease expired, when
	// neither its delivery (WithMaxAttempts) nor its queue (SetMaxAttempts)
	// sets it. It is fixed when the message is queued, from the delivering
	// broker's value; a message stored without a budget (envelope version
	// 1) gets the value of the broker that pulls it. 1 to MaxAttemptsLimit.
	// Defaults to 25.
	MaxAttempts int
	// DeadLetterCap is how many dead letters a queue keeps; the oldest are
	// deleted first. A partitioned queue splits it evenly over its
	// partitions, each trimming its own oldest, so it never keeps more in
	// all. Defaults to 10000.
	DeadLetterCap int
	// MaxMessageBytes is the largest encoded message Deliver accepts.
	// Defaults to 1 MiB.
	MaxMessageBytes int
	// IdempotencyWindow is how long an idempotency key is remembered when
	// the delivery does not say. Defaults to 24h.
	IdempotencyWindow time.Duration
	// ReclaimBatch is the most expired leases, and the most due delayed
	// messages, that one Pull moves back to their facets. Defaults to 100.
	ReclaimBatch int
	// DrainGrace is how long after SetPartitions a partition it retired is
	// kept, even when empty, so that a delivery routed by the old count an
	// instant before the change still lands in a partition that is pulled.
	// It is measured on the partition's Redis clock, from its retirement.
	// Defaults to 10s.
	DrainGrace time.Duration
	// ReplicaAcks is how many replicas must confirm a Deliver, Ack,
	// AckMany, Release, Nack or Kill before it returns: the broker then
	// sends Redis's WAIT after the write (see docs/failover.md), and the
	// call returns an error wrapping ErrNotReplicated when fewer replicas
	// confirm within ReplicaAckTimeout (the write has happened all the
	// same). Extend, pulls and registry changes are not waited for. It
	// needs a *redis.Client (standalone or Sentinel) or a
	// *redis.ClusterClient, and the WAIT command in an ACL user's rules.
	// 0 waits for no replica: Redis's asynchronous replication may then
	// lose the last writes a master acknowledged before it failed.
	// Defaults to 0.
	ReplicaAcks int
	// ReplicaAckTimeout is how long to wait for ReplicaAcks replicas.
	// Defaults to 1s.
	ReplicaAckTimeout time.Duration
	// ReplayWindow is how long Redis remembers a call that changed a queue
	// (a delivery, pull, nack, release, dead-letter requeue or purge), so
	// that when the client sends the call again because its reply was lost
	// (go-redis retries after a network error or a read timeout), the
	// second run changes nothing and answers as the first. Every such call
	// gives up after two thirds of it, retries included, so that no retry
	// reaches Redis after it forgot; give the client's retries
	// (MaxRetries × (ReadTimeout + MaxRetryBackoff)) room within that.
	// Redis keeps one small key per call for this long. At least 1s.
	// Defaults to 15s.
	ReplayWindow time.Duration
	// AllowEviction accepts a Redis whose maxmemory-policy may evict keys
	// (anything but noeviction): CheckServer then reports no problem, and
	// the worker is ready on such a Redis. An evicted key loses messages
	// silently; set it only where losing some is acceptable (see the
	// README's "Redis settings"). Defaults to false.
	AllowEviction bool
	// Unrouted says what becomes of a delivery whose topic no queue
	// matches, unless the delivery says otherwise (RequireQueue,
	// PublishOnly): UnroutedReject makes it an error wrapping ErrNoQueue.
	// Defaults to UnroutedPublish: it is only published, with a warning
	// logged once per topic.
	Unrouted UnroutedPolicy
	// Logger receives the broker's rare warnings. Defaults to slog.Default().
	Logger *slog.Logger
	// TracerProvider makes the producer spans of deliveries.
	// Defaults to OpenTelemetry's global provider.
	TracerProvider trace.TracerProvider
	// Propagator writes trace context into message headers.
	// Defaults to OpenTelemetry's global propagator.
	Propagator propagation.TextMapPropagator
}

func (c Config) withDefaults() Config {
	c.Namespace = cmp.Or(c.Namespace, NamespaceDefault)
	if c.Facet == nil {
		c.Facet = defaultFacet
	}
	if c.Topic == nil {
		c.Topic = defaultTopic
	}
	c.LeaseDuration = cmp.Or(c.LeaseDuration, LeaseDurationDefault)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, MaxAttemptsDefault)
	c.DeadLetterCap = cmp.Or(c.DeadLetterCap, DeadLetterCapDefault)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, MaxMessageBytesDefault)
	c.IdempotencyWindow = cmp.Or(c.IdempotencyWindow, IdempotencyWindowDefault)
	c.ReclaimBatch = cmp.Or(c.ReclaimBatch, ReclaimBatchDefault)
	c.DrainGrace = cmp.Or(c.DrainGrace, DrainGraceDefault)
	c.ReplicaAckTimeout = cmp.Or(c.ReplicaAckTimeout, ReplicaAckTimeoutDefault)
	c.ReplayWindow = cmp.Or(c.ReplayWindow, ReplayWindowDefault)
	if c.Unrouted == UnroutedDefault {
		c.Unrouted = UnroutedPublish
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case !validNamespace(c.Namespace):
		return fmt.Errorf("%w: namespace %q: use 1 to 64 of [A-Za-z0-9._-]", ErrInvalidConfig, c.Namespace)
	case c.LeaseDuration < time.Millisecond:
		return fmt.Errorf("%w: LeaseDuration %v is below 1ms", ErrInvalidConfig, c.LeaseDuration)
	case c.MaxAttempts < 1 || c.MaxAttempts > MaxAttemptsLimit:
		return fmt.Errorf("%w: MaxAttempts %d is outside [1, %d]", ErrInvalidConfig, c.MaxAttempts, MaxAttemptsLimit)
	case c.DeadLetterCap < 1:
		return fmt.Errorf("%w: DeadLetterCap %d is below 1", ErrInvalidConfig, c.DeadLetterCap)
	case c.MaxMessageBytes < 1:
		return fmt.Errorf("%w: MaxMessageBytes %d is below 1", ErrInvalidConfig, c.MaxMessageBytes)
	case c.IdempotencyWindow < time.Millisecond:
		return fmt.Errorf("%w: IdempotencyWindow %v is below 1ms", ErrInvalidConfig, c.IdempotencyWindow)
	case c.ReclaimBatch < 1:
		return fmt.Errorf("%w: ReclaimBatch %d is below 1", ErrInvalidConfig, c.ReclaimBatch)
	case c.DrainGrace < 0:
		return fmt.Errorf("%w: DrainGrace %v is negative", ErrInvalidConfig, c.DrainGrace)
	case c.ReplicaAcks < 0:
		return fmt.Errorf("%w: ReplicaAcks %d is negative", ErrInvalidConfig, c.ReplicaAcks)
	case c.ReplicaAckTimeout < time.Millisecond:
		// WAIT's timeout is in milliseconds, and 0 would wait forever.
		return fmt.Errorf("%w: ReplicaAckTimeout %v is below 1ms", ErrInvalidConfig, c.ReplicaAckTimeout)
	case c.Unrouted != UnroutedPublish && c.Unrouted != UnroutedReject:
		return fmt.Errorf("%w: Unrouted policy %d", ErrInvalidConfig, c.Unrouted)
	case c.ReplayWindow < time.Second:
		return fmt.Errorf("%w: ReplayWindow %v is below 1s", ErrInvalidConfig, c.ReplayWindow)
	}
	return nil
}

// defaultFacet is msg["facet"] as a string, else "default".
func defaultFacet(msg map[string]any) string {
	return cmp.Or(stringField(msg, "facet"), "default")
}

// defaultTopic is msg["topic"], else msg["type"], else "default".
func defaultTopic(msg map[string]any) string {
	return cmp.Or(stringField(msg, "topic"), stringField(msg, "type"), "default")
}

// stringField is msg[key] as a string (numbers and booleans formatted), or
// "" when it is absent or of another kind.
func stringField(msg map[string]any, key string) string {
	switch v := msg[key].(type) {
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	case int, int64, int32, uint, uint64, uint32, float64, float32, bool:
		return fmt.Sprint(v)
	}
	return ""
}

// checkMaxAttempts validates a message's budget of deliveries.
func checkMaxAttempts(n int) error {
	if n < 1 || n > MaxAttemptsLimit {
		return fmt.Errorf("%w: max attempts %d is outside [1, %d]", ErrInvalidArgument, n, MaxAttemptsLimit)
	}
	return nil
}
