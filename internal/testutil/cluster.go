package testutil

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
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

// ErrRedisCLINotFound is returned (wrapped) by StartCluster when no
// redis-cli binary can be found; it creates the cluster.
var ErrRedisCLINotFound = errors.New("redis-cli not found")

const (
	// envCLIBinary overrides the redis-cli binary used to create clusters.
	envCLIBinary = "FAIRWAY_REDIS_CLI"
	// envCluster, set to "0", skips every test that needs a Redis
	// Cluster, even with FAIRWAY_REQUIRE_REDIS=1.
	envCluster = "FAIRWAY_CLUSTER"
	// clusterTimeout bounds how long StartCluster waits for the cluster
	// to be created and healthy.
	clusterTimeout = 30 * time.Second
	// clusterBusOffset is how far above a node's port Redis puts its
	// cluster bus.
	clusterBusOffset = 10000
	// Cluster nodes take ports in [clusterPortMin, clusterPortMax), so
	// that both a port and its bus port stay below Linux's default
	// ephemeral range (32768 and up), where outgoing connections could
	// take them while a node is down for a restart.
	clusterPortMin = 20000
	clusterPortMax = 22700
	// defaultNodeTimeout is cluster-node-timeout when ClusterOptions
	// leaves it zero: long enough that a node slowed by a loaded test
	// machine is not marked failed.
	defaultNodeTimeout = 5 * time.Second
)

// ClusterOptions configures StartCluster.
type ClusterOptions struct {
	// Masters is how many masters share the slots; 0 means 3, the
	// fewest redis-cli accepts.
	Masters int
	// Replicas is how many replicas each master has.
	Replicas int
	// NodeTimeout is cluster-node-timeout: how long a node must be
	// unreachable before it is failed over. 0 means 5s; failover tests
	// want less.
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster of redis-server processes on 127.0.0.1, each
// a Server in its own temporary directory, created with
// `redis-cli --cluster create`. Its methods are safe for concurrent use.
type Cluster struct {
	opts  ClusterOptions
	nodes []*Server

	mu     sync.Mutex
	closed bool
}

// StartCluster starts opts.Masters × (1 + opts.Replicas) cluster-enabled
// redis-server processes, joins them into a cluster with redis-cli, and
// waits until every node reports cluster_state:ok, knows every other node
// and, with replicas, until every replica is in sync with its master.
//
// The binaries are taken from $FAIRWAY_REDIS_SERVER and
// $FAIRWAY_REDIS_CLI if set, else found on PATH (redis-cli also next to
// redis-server). The caller must Close the cluster. Tests should prefer
// StartClusterT, or RealCluster for the shared one.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = defaultNodeTimeout
	}
	if opts.Masters < 3 || opts.Replicas < 0 || opts.NodeTimeout < time.Millisecond {
		return nil, fmt.Errorf("testutil: invalid cluster options %+v: need 3 masters or more", opts)
	}
	cli, err := findCLIBinary()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(clusterTimeout)
	c := &Cluster{opts: opts}
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10),
		// A replica that has been cut off for long still takes over: the
		// tests kill masters on purpose, and want the failover.
		"--cluster-replica-validity-factor", "0",
		// A replica's first sync starts at once, not after the default
		// 5s that lets more replicas join one diskless transfer.
		"--repl-diskless-sync-delay", "0",
	}
	for range opts.Masters * (1 + opts.Replicas) {
		s, err := startServerOn(freeClusterPort, nil, args)
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c.nodes = append(c.nodes, s)
	}
	if err := c.create(cli, deadline); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	if err := c.waitHealthy(deadline); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// StartClusterT is StartCluster for tests: if redis-server or redis-cli is
// missing, or the cluster does not form, it skips t (or fails it when
// FAIRWAY_REQUIRE_REDIS=1), and it closes the cluster when t finishes.
func StartClusterT(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	skipCluster(t)
	c, err := StartCluster(opts)
	return closedAtEnd(t, c, err)
}

// skipCluster skips t when FAIRWAY_CLUSTER=0.
func skipCluster(t testing.TB) {
	t.Helper()
	if os.Getenv(envCluster) == "0" {
		t.Skipf("%s=0: skipping a test on a Redis Cluster", envCluster)
	}
}

// findCLIBinary resolves the redis-cli binary.
func findCLIBinary() (string, error) {
	if v := os.Getenv(envCLIBinary); v != "" {
		path, err := exec.LookPath(v)
		if err != nil {
			return "", fmt.Errorf("testutil: %w: %w", ErrRedisCLINotFound, err)
		}
		return path, nil
	}
	path, err := exec.LookPath("redis-cli")
	if err == nil {
		return path, nil
	}
	if server, serr := findServerBinary(); serr == nil {
		next := filepath.Join(filepath.Dir(server), "redis-cli")
		if _, statErr := os.Stat(next); statErr == nil {
			return next, nil
		}
	}
	return "", fmt.Errorf("testutil: %w: %w", ErrRedisCLINotFound, err)
}

// freeClusterPort returns a port that was free, with its cluster bus port,
// when it was checked.
func freeClusterPort() (int, error) {
	var lastErr error
	for range 100 {
		port := clusterPortMin + rand.IntN(clusterPortMax-clusterPortMin)
		if lastErr = portsFree(port, port+clusterBusOffset); lastErr == nil {
			return port, nil
		}
	}
	return 0, fmt.Errorf("testutil: no free cluster port pair in [%d, %d): %w", clusterPortMin, clusterPortMax, lastErr)
}

// portsFree reports whether every port can be listened on at 127.0.0.1.
func portsFree(ports ...int) error {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return err
		}
		_ = ln.Close()
	}
	return nil
}

// create joins the nodes into a cluster with redis-cli.
func (c *Cluster) create(cli string, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.opts.Replicas), "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testutil: %s %s: %w\n%s", cli, strings.Join(args, " "), err, tail(out, 2048))
	}
	return nil
}

// tail is the end of out, at most n bytes, as text.
func tail(out []byte, n int) string {
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.TrimSpace(string(out))
}

// Addrs returns the addresses of all nodes, "127.0.0.1:<port>", masters
// and replicas, in the order they were started. They do not change across
// Kill and Restart.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the cluster's servers, in the order of Addrs. Stop, Kill
// and Restart them to test failures; Close them only through the Cluster.
func (c *Cluster) Nodes() []*Server {
	return slices.Clone(c.nodes)
}

// Node returns the server listening on addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// Client returns a new cluster client seeded with every node's address.
// The caller must close it.
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
}

// MasterOf returns the address of the master that serves key now, as the
// first running node that answers CLUSTER NODES sees it.
func (c *Cluster) MasterOf(ctx context.Context, key string) (string, error) {
	masters, err := c.slotMap(ctx)
	if err != nil {
		return "", err
	}
	slot := Slot(key)
	for addr, ranges := range masters {
		for _, r := range ranges {
			if r[0] <= slot && slot <= r[1] {
				return addr, nil
			}
		}
	}
	return "", fmt.Errorf("testutil: slot %d of %q is not served", slot, key)
}

// ReplicasOf returns the addresses of the running nodes that replicate
// master now, as each node's INFO replication says.
func (c *Cluster) ReplicasOf(ctx context.Context, master string) ([]string, error) {
	var replicas []string
	for _, n := range c.nodes {
		if !n.running() || n.Addr() == master {
			continue
		}
		client := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		info, err := client.Info(ctx, "replication").Result()
		_ = client.Close()
		if err != nil {
			return nil, fmt.Errorf("testutil: %s: %w", n.Addr(), err)
		}
		f := infoFields(info)
		if f["role"] == "slave" && net.JoinHostPort(f["master_host"], f["master_port"]) == master {
			replicas = append(replicas, n.Addr())
		}
	}
	return replicas, nil
}

// Masters returns the addresses of the masters that serve slots, as the
// first running node that answers CLUSTER NODES sees them, sorted.
func (c *Cluster) Masters(ctx context.Context) ([]string, error) {
	masters, err := c.slotMap(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(masters)), nil
}

// slotMap asks the first running node that answers for CLUSTER NODES and
// returns each master that serves slots with its slot ranges.
func (c *Cluster) slotMap(ctx context.Context) (map[string][][2]int64, error) {
	var lastErr error
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		client := n.Client()
		nodes, err := client.ClusterNodes(ctx).Result()
		_ = client.Close()
		if err != nil {
			lastErr = err
			continue
		}
		return parseClusterNodes(nodes)
	}
	return nil, fmt.Errorf("testutil: no node answered CLUSTER NODES: %w", cmp.Or(lastErr, errNoAttempt))
}

// parseClusterNodes reads a CLUSTER NODES reply: per line "<id>
// <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...",
// where a slot is "<n>", "<from>-<to>", or "[...]" for one being migrated.
func parseClusterNodes(reply string) (map[string][][2]int64, error) {
	masters := make(map[string][][2]int64)
	for line := range strings.SplitSeq(strings.TrimSpace(reply), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("testutil: bad CLUSTER NODES line %q", line)
		}
		if !slices.Contains(strings.Split(f[2], ","), "master") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				continue
			}
			from, to, isRange := strings.Cut(s, "-")
			if !isRange {
				to = from
			}
			lo, err1 := strconv.ParseInt(from, 10, 64)
			hi, err2 := strconv.ParseInt(to, 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("testutil: bad slot range %q in CLUSTER NODES: %w", s, err)
			}
			masters[addr] = append(masters[addr], [2]int64{lo, hi})
		}
	}
	return masters, nil
}

// WaitHealthy waits until every running node reports cluster_state:ok with
// all 16384 slots served, knows every node, and, with replicas, until
// every running replica is in sync with its master: after a Restart, or a
// Kill that the cluster fails over. It gives up after timeout.
//
// Right after a Kill the other nodes have not noticed yet and may still
// report ok; to wait for a failover, poll MasterOf until it changes.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	return c.waitHealthy(time.Now().Add(timeout))
}

func (c *Cluster) waitHealthy(deadline time.Time) error {
	var problem error
	for {
		if problem = c.health(deadline); problem == nil {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("testutil: redis cluster %v not healthy in time: %w", c.Addrs(), problem)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// health returns nil when the cluster is healthy, else the first problem
// it sees.
func (c *Cluster) health(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		if err := nodeHealth(ctx, n, len(c.nodes)); err != nil {
			return fmt.Errorf("%s: %w", n.Addr(), err)
		}
	}
	return nil
}

// nodeHealth checks one node.
func nodeHealth(ctx context.Context, n *Server, known int) error {
	client := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer func() { _ = client.Close() }()
	info, err := client.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	fields := infoFields(info)
	for k, want := range map[string]string{
		"cluster_state":          "ok",
		"cluster_slots_ok":       "16384",
		"cluster_slots_assigned": "16384",
		"cluster_known_nodes":    strconv.Itoa(known),
	} {
		if fields[k] != want {
			return fmt.Errorf("CLUSTER INFO %s:%s, want %s", k, fields[k], want)
		}
	}
	repl, err := client.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	return replicaSync(infoFields(repl))
}

// replicaSync returns an error if the INFO replication fields are those
// of a replica not in sync with its master.
func replicaSync(fields map[string]string) error {
	if fields["role"] == "slave" && (fields["master_link_status"] != "up" || fields["master_sync_in_progress"] != "0") {
		return fmt.Errorf("replica not in sync: master_link_status:%s master_sync_in_progress:%s",
			fields["master_link_status"], fields["master_sync_in_progress"])
	}
	return nil
}

// infoFields parses "key:value" lines of an INFO-style reply.
func infoFields(info string) map[string]string {
	m := make(map[string]string)
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}

// Close stops every node and removes their directories.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, closeKilled(n))
	}
	return errors.Join(errs...)
}

// closeKilled closes n. A server the test killed on purpose is not an
// error: only its directories are left to remove. A paused one is resumed
// first, so that it can stop.
func closeKilled(n *Server) error {
	if n.running() {
		n.resume()
		return n.Close()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.proc = nil
	return n.removeDirs()
}

// running reports whether the server's process is running (it has not
// been stopped, killed or closed, and has not exited by itself).
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	select {
	case <-s.proc.done:
		return false
	default:
		return true
	}
}

// Slot returns the Redis Cluster hash slot of key, honoring hash tags.
func Slot(key string) int64 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int64(crc16(key) % 16384)
}

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := range len(s) {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// sharedCluster is the cluster shared by all tests of one test binary.
var sharedCluster = sharedSetup[*Cluster]{
	stopped: errors.New("shared redis cluster already stopped by testutil.Main"),
}

// SharedCluster returns the Redis Cluster (3 masters, no replicas) shared
// by the whole test binary, starting it on first use. Tests must not kill
// its nodes (start their own with StartClusterT) and must keep their keys
// under a Namespace: it is never flushed.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	skipCluster(t)
	return sharedCluster.get(t, func() (*Cluster, error) { return StartCluster(ClusterOptions{}) })
}

// RealCluster returns a new client to the shared cluster (see
// SharedCluster), closed when t finishes. If redis-server or redis-cli is
// missing, or the cluster does not form, it skips t, or fails it when
// FAIRWAY_REQUIRE_REDIS=1.
func RealCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	c := SharedCluster(t)
	if c == nil {
		return nil
	}
	return clientClosedAtEnd(t, c.Client())
}

// QueuesOnEveryMaster returns one queue name per master of the shared
// cluster, sorted: the keys of each, tagged "{<queue>}", live on a
// different node.
func QueuesOnEveryMaster(t testing.TB) []string {
	t.Helper()
	qs, err := SharedCluster(t).QueuesOnEveryMaster(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return qs
}

// QueuesOnEveryMaster returns one queue name per master of c, sorted: the
// keys of each, tagged "{<queue>}", live on a different master now.
func (c *Cluster) QueuesOnEveryMaster(ctx context.Context) ([]string, error) {
	masters, err := c.Masters(ctx)
	if err != nil {
		return nil, err
	}
	byMaster := make(map[string]string)
	for i := 0; len(byMaster) < len(masters) && i < 1000; i++ {
		q := fmt.Sprintf("q%d", i)
		m, err := c.MasterOf(ctx, "{"+q+"}")
		if err != nil {
			return nil, err
		}
		if _, ok := byMaster[m]; !ok {
			byMaster[m] = q
		}
	}
	if len(byMaster) != len(masters) {
		return nil, fmt.Errorf("testutil: found queues on %d of %d masters", len(byMaster), len(masters))
	}
	return slices.Sorted(maps.Values(byMaster)), nil
}
