package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"weak"

	"github.com/redis/go-redis/v9"
)

// minReloadInterval is the shortest time between two reloads of a
// ClusterClient's slot map that the broker asks for after failed commands.
const minReloadInterval = 100 * time.Millisecond

// go-redis (v9.23) reloads a ClusterClient's slot map when a node answers
// MOVED or ASK, or every ClusterStateReloadInterval (60s). When a master
// dies, commands for its slots fail with connection errors, which reload
// nothing: after its replica took over, the client would keep dialing the
// dead master for up to a minute. So New puts a hook on a ClusterClient
// that reloads the slot map (ClusterClient.ReloadState, in the background)
// when a command or pipeline fails as it does while a master is down or
// being replaced, at most once per minReloadInterval. A Sentinel-managed
// client (redis.NewFailoverClient) needs none of this: it asks the
// sentinels for the primary on every new connection and drops its
// connections when they announce a new one.

// reloadHooked holds the cluster clients that already have the hook, so
// that several brokers on one client add it once. Its keys are weak: a
// client that is no longer used leaves it.
var reloadHooked sync.Map // weak.Pointer[redis.ClusterClient] -> struct{}

// watchFailover adds the reload hook to rdb when it is a ClusterClient
// without one.
func watchFailover(rdb redis.UniversalClient) {
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return
	}
	key := weak.Make(c)
	if _, loaded := reloadHooked.LoadOrStore(key, struct{}{}); loaded {
		return
	}
	runtime.AddCleanup(c, func(k weak.Pointer[redis.ClusterClient]) { reloadHooked.Delete(k) }, key)
	c.AddHook(&reloadHook{reload: c.ReloadState})
}

// reloadHook calls reload, rate-limited, when a command fails with an
// error that may mean the cluster changed masters.
type reloadHook struct {
	reload func(context.Context)
	last   atomic.Int64 // UnixNano of the last reload asked for
}

var _ redis.Hook = (*reloadHook)(nil)

// DialHook leaves dialing alone: a refused dial surfaces as the command's
// error, which ProcessHook sees.
func (h *reloadHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook reloads after a command that failed over.
func (h *reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(ctx, err)
		return err
	}
}

// ProcessPipelineHook reloads after a pipeline in which a command failed
// over.
func (h *reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil {
			return nil
		}
		for _, c := range cmds {
			if isFailoverError(ctx, c.Err()) {
				h.reloadSoon()
				break
			}
		}
		h.check(ctx, err)
		return err
	}
}

func (h *reloadHook) check(ctx context.Context, err error) {
	if isFailoverError(ctx, err) {
		h.reloadSoon()
	}
}

// reloadSoon asks for a reload unless one was asked for less than
// minReloadInterval ago.
func (h *reloadHook) reloadSoon() {
	now := time.Now().UnixNano()
	last := h.last.Load()
	if now-last < int64(minReloadInterval) || !h.last.CompareAndSwap(last, now) {
		return
	}
	// ReloadState only starts a reload in the background; it needs no
	// context of ours.
	h.reload(context.Background())
}

// failoverReplies are the prefixes of the error replies a node gives while
// its cluster changes masters.
var failoverReplies = []string{"CLUSTERDOWN", "READONLY", "MASTERDOWN", "LOADING", "TRYAGAIN"}

// isFailoverError reports whether err is what a command gets from a master
// that died or is being replaced: a network error, or one of
// failoverReplies. The end of the caller's own context is not one.
func isFailoverError(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || ctx.Err() != nil {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var redisErr redis.Error
	if errors.As(err, &redisErr) {
		for _, p := range failoverReplies {
			if strings.HasPrefix(redisErr.Error(), p) {
				return true
			}
		}
	}
	return false
}
