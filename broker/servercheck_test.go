package broker_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// CheckServer reports a Redis that may evict keys, names its policy, and
// is quiet for noeviction, for an unreadable policy, and with AllowEviction.
func TestCheckServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, policy := range []string{"allkeys-lru", "volatile-ttl", "noeviction"} {
		srv := testutil.StartServerT(t, "--maxmemory-policy", policy)
		rdb := srv.Client()
		t.Cleanup(func() { _ = rdb.Close() })
		rep, err := newBroker(t, rdb, broker.Config{}).CheckServer(ctx)
		if got := rep.Policies[srv.Addr()]; got != policy {
			t.Errorf("%s: policy reported %q", policy, got)
		}
		evicting := policy != "noeviction"
		if evicting != errors.Is(err, broker.ErrEvictingRedis) || evicting != (len(rep.Problems) == 1) {
			t.Errorf("%s: CheckServer = %+v, %v", policy, rep, err)
		}
		if evicting && !strings.Contains(err.Error(), policy) {
			t.Errorf("%s: the error does not name the policy: %v", policy, err)
		}
		if evicting {
			rep, err := newBroker(t, rdb, broker.Config{AllowEviction: true}).CheckServer(ctx)
			if err != nil || len(rep.Problems) != 0 || rep.Policies[srv.Addr()] != policy {
				t.Errorf("%s with AllowEviction: %+v, %v; want the policy and no problem", policy, rep, err)
			}
		}
	}
	// miniredis says nothing of its policy: unknown, not a problem.
	mr, mini := testutil.MiniRedis(t)
	rep, err := newBroker(t, mini, broker.Config{}).CheckServer(ctx)
	if err != nil || rep.Policies[mr.Addr()] != "unknown" {
		t.Errorf("miniredis: %+v, %v; want unknown and no error", rep, err)
	}
	// A Redis that is down is an error, not a policy.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}) // a closed loopback port
	t.Cleanup(func() { _ = down.Close() })
	if _, err := newBroker(t, down, broker.Config{}).CheckServer(ctx); err == nil || errors.Is(err, broker.ErrEvictingRedis) {
		t.Errorf("a Redis that is down: %v, want a connection error", err)
	}
}

// On a Cluster every master is checked.
func TestCheckServerCluster(t *testing.T) {
	t.Parallel()
	rdb := testutil.RealCluster(t)
	rep, err := newBroker(t, rdb, broker.Config{}).CheckServer(t.Context())
	if err != nil || len(rep.Policies) < 3 {
		t.Fatalf("CheckServer on the cluster = %+v, %v; want every master, noeviction", rep, err)
	}
	for addr, p := range rep.Policies {
		if p != "noeviction" {
			t.Errorf("master %s: policy %q", addr, p)
		}
	}
}
