package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"weak"

	"github.com/redis/go-redis/v9"
)

// redisReply is an error reply from Redis, as go-redis returns it.
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}

func TestIsFailoverError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil", ctx, nil, false},
		{"redis.Nil", ctx, redis.Nil, false},
		{"dial refused", ctx, dial, true},
		{"wrapped dial", ctx, fmt.Errorf("broker: pull: %w", dial), true},
		{"reset", ctx, syscall.ECONNRESET, true},
		{"EOF", ctx, io.EOF, true},
		{"CLUSTERDOWN", ctx, redisReply("CLUSTERDOWN The cluster is down"), true},
		{"READONLY", ctx, redisReply("READONLY You can't write against a read only replica."), true},
		{"script error", ctx, redisReply("ERR user_script:1: boom"), false},
		{"plain error", ctx, errors.New("CLUSTERDOWN but not from Redis"), false},
		{"caller's context ended", canceled, dial, false},
	} {
		if got := isFailoverError(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: isFailoverError(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// The hook reloads on failover errors only, at most once per
// minReloadInterval.
func TestReloadHook(t *testing.T) {
	t.Parallel()
	var reloads atomic.Int32
	h := &reloadHook{reload: func(context.Context) { reloads.Add(1) }}
	ctx := context.Background()
	fail := func(err error) redis.ProcessHook {
		return h.ProcessHook(func(context.Context, redis.Cmder) error { return err })
	}
	cmd := redis.NewStatusCmd(ctx, "ping")
	_ = fail(redisReply("ERR wrong"))(ctx, cmd)
	if n := reloads.Load(); n != 0 {
		t.Fatalf("%d reloads after a plain error, want 0", n)
	}
	down := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for range 10 {
		_ = fail(down)(ctx, cmd)
	}
	if n := reloads.Load(); n != 1 {
		t.Fatalf("%d reloads after 10 quick failures, want 1", n)
	}
	h.last.Store(time.Now().Add(-2 * minReloadInterval).UnixNano())
	pipe := h.ProcessPipelineHook(func(_ context.Context, cmds []redis.Cmder) error {
		cmds[0].SetErr(down)
		return down
	})
	_ = pipe(ctx, []redis.Cmder{cmd})
	if n := reloads.Load(); n != 2 {
		t.Fatalf("%d reloads after a failed pipeline past the interval, want 2", n)
	}
}

// New hooks a cluster client once, however many brokers share it.
func TestWatchFailoverOnce(t *testing.T) {
	t.Parallel()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer func() { _ = c.Close() }()
	for range 3 {
		if _, err := New(c, Config{}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	reloadHooked.Range(func(k, _ any) bool {
		if wp, ok := k.(weak.Pointer[redis.ClusterClient]); ok && wp.Value() == c {
			n++
		}
		return true
	})
	if n != 1 {
		t.Fatalf("client registered %d times, want 1", n)
	}
}
