package testutil

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// MiniRedis starts a fresh in-memory miniredis server on 127.0.0.1 and
// returns it with a client connected to it. Both are closed when the test
// finishes.
func MiniRedis(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr, err := miniredis.Run()
	if err != nil {
		t.Fatalf("testutil: start miniredis: %v", err)
	}
	t.Cleanup(mr.Close)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	// Registered after mr.Close, so it runs first.
	t.Cleanup(func() { _ = client.Close() })
	return mr, client
}
