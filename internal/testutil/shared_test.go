package testutil

import (
	"errors"
	"strings"
	"testing"
)

func TestRealRedis(t *testing.T) {
	t.Parallel()
	c1, c2 := RealRedis(t), RealRedis(t)
	if c1 == c2 {
		t.Fatal("RealRedis returned the same client twice; want a new one per call")
	}
	if c1.Options().Addr != c2.Options().Addr {
		t.Fatalf("clients point at %s and %s; want one shared server", c1.Options().Addr, c2.Options().Addr)
	}
	key := Namespace(t) + ":k"
	if err := c1.Set(t.Context(), key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c2.Get(t.Context(), key).Result(); err != nil || got != "v" {
		t.Fatalf("GET via second client = %q, %v; want v", got, err)
	}
}

func TestRedisUnavailable(t *testing.T) {
	notFound := errors.Join(ErrRedisServerNotFound)
	broken := errors.New("exited during startup")
	tests := []struct {
		name        string
		require     string
		err         error
		wantSkipped bool
		wantFailed  bool
		wantMsg     string
	}{
		{"missing, skip", "", notFound, true, false, "install it (apt-get install redis-server) or set FAIRWAY_REQUIRE_REDIS=1"},
		{"broken, skip", "", broken, true, false, "failed to start"},
		{"missing, required", "1", notFound, false, true, "FAIRWAY_REQUIRE_REDIS=1"},
		{"broken, required", "1", broken, false, true, "exited during startup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envRequireRedis, tt.require)
			f := runFake(func(tb testing.TB) { redisUnavailable(tb, tt.err) })
			if f.skipped != tt.wantSkipped || f.failed != tt.wantFailed {
				t.Fatalf("skipped=%v failed=%v; want skipped=%v failed=%v (%s)",
					f.skipped, f.failed, tt.wantSkipped, tt.wantFailed, f.output())
			}
			if !strings.Contains(f.output(), tt.wantMsg) {
				t.Errorf("message %q does not contain %q", f.output(), tt.wantMsg)
			}
		})
	}
}
