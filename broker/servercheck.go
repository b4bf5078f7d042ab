package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrEvictingRedis means a Redis server may evict keys under memory
// pressure: its maxmemory-policy is not noeviction. An evicted key of a
// queue loses messages without a word (a body, a facet's list, a lease), so
// Fairway needs noeviction; Config.AllowEviction accepts the risk.
var ErrEvictingRedis = errors.New("broker: redis may evict keys")

// ServerReport is what CheckServer found about the Redis servers a broker
// runs on.
type ServerReport struct {
	// Policies maps each server (its address; a master's on a Cluster;
	// "redis" for a client of another kind) to its maxmemory-policy, or "unknown" when INFO did not
	// say (an ACL user without +info, a server that hides it).
	Policies map[string]string
	// Problems says, one sentence each, what may lose messages; empty when
	// nothing does, or when Config.AllowEviction accepts it.
	Problems []string
}

// CheckServer reads how each Redis server the broker runs on treats memory
// pressure, and returns an error wrapping ErrEvictingRedis when one may
// evict keys (unless Config.AllowEviction is set). The worker calls it when
// it starts and reports its problems in /readyz; the fairway CLI and
// dashboard show them. A policy that cannot be read is reported as
// "unknown", not as a problem.
func (b *Broker) CheckServer(ctx context.Context) (ServerReport, error) {
	if ctx == nil {
		return ServerReport{}, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	rep := ServerReport{Policies: make(map[string]string)}
	check := func(ctx context.Context, name string, c redis.UniversalClient) error {
		policy, err := maxmemoryPolicy(ctx, c)
		if err != nil {
			return err
		}
		rep.Policies[name] = policy
		if policy != "noeviction" && policy != "unknown" && !b.cfg.AllowEviction {
			rep.Problems = append(rep.Problems, fmt.Sprintf(
				"redis %s has maxmemory-policy %s: it may evict keys and lose messages silently; set it to noeviction "+
					"(or broker.Config.AllowEviction to accept the loss)", name, policy))
		}
		return nil
	}
	var err error
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs in parallel
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return check(ctx, m.Options().Addr, m)
		})
	} else {
		name := "redis"
		if c, ok := b.rdb.(*redis.Client); ok {
			name = c.Options().Addr
		}
		err = check(ctx, name, b.rdb)
	}
	if err != nil {
		return rep, wrapRedis("check server", err)
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrEvictingRedis, strings.Join(rep.Problems, "; "))
	}
	return rep, nil
}

// maxmemoryPolicy is the server's maxmemory-policy, from INFO memory (which
// managed servers allow, and which a worker's ACL rules include; CONFIG GET
// would also show secrets), or "unknown" when the server refuses INFO or
// does not say. Only a failure to reach the server is an error.
func maxmemoryPolicy(ctx context.Context, c redis.UniversalClient) (string, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		if isReplyError(err) {
			return "unknown", nil
		}
		return "", err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok && v != "" {
			return v, nil
		}
	}
	return "unknown", nil
}

// isReplyError reports whether err is an error reply of Redis (the server
// answered, refusing), rather than a failure to reach it.
func isReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil)
}
