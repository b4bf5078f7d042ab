package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// SentinelMasterName is the name the sentinels of a Sentinel monitor
	// their primary under; pass it as FailoverOptions.MasterName.
	SentinelMasterName = "fairway"
	// envSentinelBinary overrides the redis-sentinel binary.
	envSentinelBinary = "FAIRWAY_REDIS_SENTINEL"
	// envSentinel, set to "0", skips every test that needs Sentinel, even
	// with FAIRWAY_REQUIRE_REDIS=1.
	envSentinel = "FAIRWAY_SENTINEL"
	// sentinelTimeout bounds how long StartSentinel waits for the
	// sentinels to know the primary, its replica and each other.
	sentinelTimeout = 30 * time.Second
	// sentinelCount is how many sentinels watch the primary; a quorum of
	// two of them fails it over.
	sentinelCount = 3
	// defaultDownAfter is down-after-milliseconds when SentinelOptions
	// leaves it zero.
	defaultDownAfter = 5 * time.Second
)

// SentinelOptions configures StartSentinel.
type SentinelOptions struct {
	// DownAfter is down-after-milliseconds: how long the primary must be
	// unreachable before the sentinels fail it over. 0 means 5s; failover
	// tests want less.
	DownAfter time.Duration
	// Replicas is how many replicas the primary has; 0 means 1. With two,
	// the primary that takes over still has a replica.
	Replicas int
}

// Sentinel is a Redis primary with one replica (or more), watched by three
// sentinels, all on 127.0.0.1, each process a Server in its own temporary
// directory. Its methods are safe for concurrent use.
type Sentinel struct {
	data      []*Server // the first primary, then its replica
	sentinels []*Server

	mu     sync.Mutex
	closed bool
}

// StartSentinel starts a primary and a replica (redis-server) and three
// sentinels (redis-sentinel, or redis-server --sentinel) that monitor the
// primary as SentinelMasterName with a quorum of two, and waits until the
// replica is in sync and every sentinel knows the replica and the other
// sentinels, so that a failover can happen.
//
// The sentinel binary is $FAIRWAY_REDIS_SENTINEL if set, else
// redis-sentinel on PATH, else redis-server run with --sentinel. The
// caller must Close it. Tests should prefer StartSentinelT, or
// RealSentinel for the shared one.
func StartSentinel(opts SentinelOptions) (*Sentinel, error) {
	downAfter := opts.DownAfter
	if downAfter == 0 {
		downAfter = defaultDownAfter
	}
	if downAfter < time.Millisecond {
		return nil, fmt.Errorf("testutil: invalid sentinel options %+v", opts)
	}
	bin, err := findSentinelBinary()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(sentinelTimeout)
	data, err := startReplicated(max(opts.Replicas, 1))
	if err != nil {
		return nil, err
	}
	s := &Sentinel{data: data}
	primary := data[0]
	for range sentinelCount {
		sen, err := startSentinelProcess(bin, primary.port, downAfter)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.sentinels = append(s.sentinels, sen)
	}
	if err := s.waitReady(deadline); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// startReplicated starts a primary and n replicas of it, primary first.
func startReplicated(n int) ([]*Server, error) {
	// A replica's first sync starts at once, not after the default 5s.
	args := []string{"--repl-diskless-sync-delay", "0"}
	primary, err := StartServer(args...)
	if err != nil {
		return nil, err
	}
	data := []*Server{primary}
	for range n {
		replica, err := StartServer(append(args, "--replicaof", "127.0.0.1", strconv.Itoa(primary.port))...)
		if err != nil {
			for _, d := range data {
				err = errors.Join(err, d.Close())
			}
			return nil, err
		}
		data = append(data, replica)
	}
	return data, nil
}

// StartReplicatedT starts a primary and one replica of it, with no
// sentinel, and waits until the replica is in sync. If redis-server is
// missing it skips t (or fails it when FAIRWAY_REQUIRE_REDIS=1); both
// are closed when t finishes.
func StartReplicatedT(t testing.TB) (primary, replica *Server) {
	t.Helper()
	data, err := startReplicated(1)
	if err == nil {
		// Without sentinels, ready checks the replication only.
		s := &Sentinel{data: data}
		if err = s.waitReady(time.Now().Add(sentinelTimeout)); err != nil {
			err = errors.Join(err, s.Close())
		}
	}
	if err != nil {
		redisUnavailable(t, err)
		return nil, nil
	}
	primary, replica = data[0], data[1]
	t.Cleanup(func() {
		if err := errors.Join(closeKilled(replica), closeKilled(primary)); err != nil {
			t.Errorf("testutil: %v", err)
		}
	})
	return primary, replica
}

// startSentinelProcess starts one sentinel monitoring the primary on
// port, with its config file in a directory of its own.
func startSentinelProcess(bin string, port int, downAfter time.Duration) (*Server, error) {
	dir, err := os.MkdirTemp("", "fairway-sentinel-conf-")
	if err != nil {
		return nil, fmt.Errorf("testutil: create sentinel dir: %w", err)
	}
	conf := filepath.Join(dir, "sentinel.conf")
	m := SentinelMasterName
	text := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n", m, port) +
		fmt.Sprintf("sentinel down-after-milliseconds %s %d\n", m, downAfter.Milliseconds()) +
		fmt.Sprintf("sentinel failover-timeout %s %d\n", m, max(2*downAfter, 10*time.Second).Milliseconds()) +
		fmt.Sprintf("sentinel parallel-syncs %s 1\n", m)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("testutil: write sentinel config: %w", err), os.RemoveAll(dir))
	}
	srv, err := startProcessOn(bin, conf, FreePort, nil, []string{"--sentinel"})
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	// The config lives until the sentinel's own directory goes.
	srv.extraDirs = append(srv.extraDirs, dir)
	return srv, nil
}

// findSentinelBinary resolves the sentinel binary. Run with --sentinel,
// each of the candidates is a sentinel.
func findSentinelBinary() (string, error) {
	if v := os.Getenv(envSentinelBinary); v != "" {
		path, err := exec.LookPath(v)
		if err != nil {
			return "", fmt.Errorf("testutil: %w: %s: %w", ErrRedisServerNotFound, envSentinelBinary, err)
		}
		return path, nil
	}
	if path, err := exec.LookPath("redis-sentinel"); err == nil {
		return path, nil
	}
	// Sentinel is built into redis-server.
	return findServerBinary()
}

// StartSentinelT is StartSentinel for tests: if the binaries are missing,
// or the setup does not become ready, it skips t (or fails it when
// FAIRWAY_REQUIRE_REDIS=1), and it closes everything when t finishes. It
// skips t when FAIRWAY_SENTINEL=0.
func StartSentinelT(t testing.TB, opts SentinelOptions) *Sentinel {
	t.Helper()
	skipSentinel(t)
	s, err := StartSentinel(opts)
	return closedAtEnd(t, s, err)
}

// skipSentinel skips t when FAIRWAY_SENTINEL=0.
func skipSentinel(t testing.TB) {
	t.Helper()
	if os.Getenv(envSentinel) == "0" {
		t.Skipf("%s=0: skipping a test on Redis Sentinel", envSentinel)
	}
}

// SentinelAddrs returns the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.sentinels))
	for i, n := range s.sentinels {
		addrs[i] = n.Addr()
	}
	return addrs
}

// DataNodes returns the redis-server processes that hold data: the first
// primary, then its replicas. Kill and Restart them to test failures.
func (s *Sentinel) DataNodes() []*Server { return slices.Clone(s.data) }

// Node returns the data node listening on addr, or nil.
func (s *Sentinel) Node(addr string) *Server {
	for _, n := range s.data {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// Client returns a new Sentinel-managed client (redis.NewFailoverClient)
// to the current primary. The caller must close it.
func (s *Sentinel) Client() *redis.Client {
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    SentinelMasterName,
		SentinelAddrs: s.SentinelAddrs(),
	})
}

// Primary returns the primary's address as the first running sentinel
// that answers names it.
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	lastErr := errNoAttempt
	for _, n := range s.sentinels {
		if !n.running() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		addr, err := sc.GetMasterAddrByName(ctx, SentinelMasterName).Result()
		_ = sc.Close()
		if err == nil && len(addr) == 2 {
			return addr[0] + ":" + addr[1], nil
		}
		lastErr = fmt.Errorf("sentinel %s: %v, %w", n.Addr(), addr, err)
	}
	return "", fmt.Errorf("testutil: no sentinel named the primary: %w", lastErr)
}

// KillPrimary kills the current primary with SIGKILL, as a crash would,
// and returns its address.
func (s *Sentinel) KillPrimary(ctx context.Context) (string, error) {
	addr, err := s.Primary(ctx)
	if err != nil {
		return "", err
	}
	n := s.Node(addr)
	if n == nil {
		return "", fmt.Errorf("testutil: the sentinels name %s, not one of %v", addr, s.data)
	}
	n.Kill()
	return addr, nil
}

// WaitPromoted waits until every running sentinel names a primary other
// than old, and that server answers as a master; it returns its address.
// It gives up after timeout.
func (s *Sentinel) WaitPromoted(old string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var problem error
	for {
		addr, err := s.promoted(ctx, old)
		if err == nil {
			return addr, nil
		}
		problem = err
		if ctx.Err() != nil {
			return "", fmt.Errorf("testutil: no primary promoted in place of %s within %v: %w", old, timeout, problem)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// promoted returns the new primary once every sentinel agrees on it and
// it is a master, else why not.
func (s *Sentinel) promoted(ctx context.Context, old string) (string, error) {
	var addr string
	for _, n := range s.sentinels {
		if !n.running() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		got, err := sc.GetMasterAddrByName(ctx, SentinelMasterName).Result()
		_ = sc.Close()
		if err != nil || len(got) != 2 {
			return "", fmt.Errorf("sentinel %s: %v, %w", n.Addr(), got, err)
		}
		a := got[0] + ":" + got[1]
		if a == old || addr != "" && a != addr {
			return "", fmt.Errorf("sentinel %s names %s", n.Addr(), a)
		}
		addr = a
	}
	node := s.Node(addr)
	if node == nil {
		return "", fmt.Errorf("sentinels name unknown %s", addr)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer func() { _ = c.Close() }()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return "", err
	}
	if role := infoFields(info)["role"]; role != "master" {
		return "", fmt.Errorf("%s has role %s", addr, role)
	}
	return addr, nil
}

// waitReady waits until the replica is in sync and each sentinel sees the
// primary up, its replica and the two other sentinels.
func (s *Sentinel) waitReady(deadline time.Time) error {
	var problem error
	for {
		if problem = s.ready(deadline); problem == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("testutil: sentinel setup not ready in time: %w", problem)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Sentinel) ready(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := primaryOnline(ctx, s.data[0], len(s.data)-1); err != nil {
		return err
	}
	for _, n := range s.data[1:] {
		c := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		info, err := c.Info(ctx, "replication").Result()
		_ = c.Close()
		if err != nil {
			return err
		}
		f := infoFields(info)
		if f["role"] != "slave" {
			return fmt.Errorf("%s is not a replica yet", n.Addr())
		}
		if err := replicaSync(f); err != nil {
			return fmt.Errorf("%s: %w", n.Addr(), err)
		}
	}
	for _, n := range s.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		m, err := sc.Master(ctx, SentinelMasterName).Result()
		_ = sc.Close()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", n.Addr(), err)
		}
		want := map[string]string{
			"flags":               "master",
			"num-slaves":          strconv.Itoa(len(s.data) - 1),
			"num-other-sentinels": strconv.Itoa(len(s.sentinels) - 1),
		}
		for k, v := range want {
			if m[k] != v {
				return fmt.Errorf("sentinel %s: %s is %q, want %q", n.Addr(), k, m[k], v)
			}
		}
	}
	return nil
}

// primaryOnline returns nil once primary counts n replicas online: those
// are the ones WAIT counts, a moment after each replica says it is in sync.
func primaryOnline(ctx context.Context, primary *Server, n int) error {
	c := redis.NewClient(&redis.Options{Addr: primary.Addr(), MaxRetries: -1})
	defer func() { _ = c.Close() }()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	f := infoFields(info)
	for i := range n {
		if slave := f["slave"+strconv.Itoa(i)]; !strings.Contains(slave, "state=online") {
			return fmt.Errorf("primary %s: replica %d not online: %q", primary.Addr(), i, slave)
		}
	}
	return nil
}

// Close stops every process and removes their directories. Killed
// servers are not an error.
func (s *Sentinel) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	// Sentinels first, so that they do not fail over a primary being
	// stopped.
	for _, n := range slices.Concat(s.sentinels, s.data) {
		errs = append(errs, closeKilled(n))
	}
	return errors.Join(errs...)
}

// sharedSentinel is the Sentinel setup shared by all tests of one test
// binary.
var sharedSentinel = sharedSetup[*Sentinel]{
	stopped: errors.New("shared sentinel setup already stopped by testutil.Main"),
}

// SharedSentinel returns the Sentinel setup shared by the whole test
// binary, starting it on first use. Tests must not kill its servers
// (start their own with StartSentinelT) and must keep their keys under a
// Namespace: it is never flushed. It skips t when FAIRWAY_SENTINEL=0, and
// when the binaries are missing (fails it when FAIRWAY_REQUIRE_REDIS=1).
func SharedSentinel(t testing.TB) *Sentinel {
	t.Helper()
	skipSentinel(t)
	return sharedSentinel.get(t, func() (*Sentinel, error) { return StartSentinel(SentinelOptions{}) })
}

// RealSentinel returns a new Sentinel-managed client to the shared setup
// (see SharedSentinel), closed when t finishes.
func RealSentinel(t testing.TB) *redis.Client {
	t.Helper()
	s := SharedSentinel(t)
	if s == nil {
		return nil
	}
	return clientClosedAtEnd(t, s.Client())
}

// SentinelBackend is the shared Sentinel setup (see RealSentinel) as a
// backend, named "redis-sentinel".
func SentinelBackend() Backend {
	return Backend{
		Name: "redis-sentinel",
		Client: func(t testing.TB) redis.UniversalClient {
			t.Helper()
			return RealSentinel(t)
		},
	}
}
