package testutil

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSlot(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]int64{
		"123456789":   12739, // CRC-16/XMODEM check value 0x31C3
		"foo":         12182,
		"{foo}:bar":   12182,
		"a{foo}b{c}":  12182, // the first tag counts
		"foo{}{bar}":  Slot("foo{}{bar}"),
		"{user1000}.": Slot("user1000"),
	} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	if Slot("foo{}{bar}") == Slot("bar") {
		t.Errorf("an empty hash tag must hash the whole key")
	}
}

// TestSharedCluster checks the shared cluster against Redis's own view:
// the slot each key maps to, and that keys with different hash tags land on
// all three masters.
func TestSharedCluster(t *testing.T) {
	t.Parallel()
	c := SharedCluster(t)
	rdb := RealCluster(t)
	ctx := t.Context()
	masters, err := c.Masters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(masters) != 3 {
		t.Fatalf("Masters() = %v, want 3", masters)
	}
	if err := c.WaitHealthy(time.Second); err != nil {
		t.Fatal(err)
	}
	ns := Namespace(t)
	seen := make(map[string]bool)
	for _, q := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		key := ns + ":{" + q + "}:k"
		if err := rdb.Set(ctx, key, q, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil || slot != Slot(key) {
			t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; Slot says %d", key, slot, err, Slot(key))
		}
		master, err := c.MasterOf(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		node := c.Node(master).Client()
		got, err := node.Get(ctx, key).Result()
		_ = node.Close()
		if err != nil || got != q {
			t.Fatalf("GET %s on %s = %q, %v; want %q", key, master, got, err, q)
		}
		seen[master] = true
	}
	if len(seen) != 3 {
		t.Errorf("8 hash tags landed on %d masters, want 3", len(seen))
	}
	// Keys of two slots in one command are refused, as they would be in
	// production.
	err = rdb.Do(ctx, "MSET", ns+":{a}:x", "1", ns+":{b}:x", "1").Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("MSET over two slots: %v, want CROSSSLOT", err)
	}
}

func TestClusterBackend(t *testing.T) {
	t.Parallel()
	var ran []string
	t.Run("group", func(t *testing.T) {
		ForEachBackendWithCluster(t, func(t *testing.T, rdb redis.UniversalClient) {
			key := Namespace(t) + ":k"
			if err := rdb.Set(t.Context(), key, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if b := ClusterBackend(); strings.HasSuffix(t.Name(), "/"+b.Name) {
				if _, ok := rdb.(*redis.ClusterClient); !ok {
					t.Errorf("cluster backend client is a %T", rdb)
				}
			}
		})
	})
	t.Run("names", func(t *testing.T) {
		for _, b := range append(Backends(), ClusterBackend()) {
			ran = append(ran, b.Name)
		}
		if !slices.Equal(ran, []string{"miniredis", "redis-server", "redis-cluster"}) {
			t.Errorf("backends = %v", ran)
		}
	})
}

// TestClusterFailover kills a master of a cluster with replicas, waits for
// its replica to take over with the data, and restarts the old master,
// which comes back as a replica.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node cluster and waits for a failover")
	}
	t.Parallel()
	c := StartClusterT(t, ClusterOptions{Replicas: 1, NodeTimeout: 500 * time.Millisecond})
	if len(c.Addrs()) != 6 {
		t.Fatalf("Addrs() = %v, want 6", c.Addrs())
	}
	rdb := c.Client()
	defer func() { _ = rdb.Close() }()
	ctx := t.Context()
	key := Namespace(t) + ":{q}:k"
	if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old, err := c.MasterOf(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the replica has the write, so the failover cannot lose it.
	master := c.Node(old).Client()
	n, err := master.Wait(ctx, 1, 5*time.Second).Result()
	_ = master.Close()
	if err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}

	c.Node(old).Kill()
	var promoted string
	Eventually(t, 15*time.Second, func() bool {
		promoted, err = c.MasterOf(ctx, key)
		return err == nil && promoted != old
	}, "a replica to take over the slot of %s from the killed %s", key, old)
	if err := c.WaitHealthy(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	// go-redis (v9.23) does not reload its slot map on connection errors,
	// only on MOVED or every ClusterStateReloadInterval (60s): reload it
	// here, as the broker will have to after a failover.
	Eventually(t, 10*time.Second, func() bool {
		rdb.ReloadState(ctx)
		got, err := rdb.Get(ctx, key).Result()
		return err == nil && got == "v"
	}, "the cluster client to read %s from the promoted %s", key, promoted)

	if err := c.Node(old).Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	masters, err := c.Masters(ctx)
	if err != nil || len(masters) != 3 || slices.Contains(masters, old) {
		t.Fatalf("Masters() after restart = %v, %v; want 3 without %s", masters, err, old)
	}
}

// TestClusterClose checks that Close leaves nothing behind, even with a
// node killed.
func TestClusterClose(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	t.Parallel()
	c, err := StartCluster(ClusterOptions{})
	if err != nil {
		if errors.Is(err, ErrRedisServerNotFound) || errors.Is(err, ErrRedisCLINotFound) {
			redisUnavailable(t, err)
		}
		t.Fatal(err)
	}
	c.Nodes()[1].Kill()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, n := range c.Nodes() {
		if _, err := os.Stat(n.Dir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("node dir %s left behind: %v", n.Dir(), err)
		}
		port := n.port
		if err := portsFree(port, port+clusterBusOffset); err != nil {
			t.Errorf("ports of %s still taken: %v", n.Addr(), err)
		}
	}
}

func TestStartClusterInvalid(t *testing.T) {
	t.Parallel()
	if _, err := StartCluster(ClusterOptions{Masters: 2}); err == nil {
		t.Fatal("StartCluster with 2 masters succeeded")
	}
}

func TestParseClusterNodes(t *testing.T) {
	t.Parallel()
	reply := `07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922 [5461->-292f]
292f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
6ec2 127.0.0.1:30005@40005 master,fail - 1426238316232 0 5 disconnected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 7000
`
	got, err := parseClusterNodes(reply)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][][2]int64{
		"127.0.0.1:30001": {{0, 5460}, {7000, 7000}},
		"127.0.0.1:30002": {{5461, 10922}},
		"127.0.0.1:30003": {{10923, 16383}},
	}
	if len(got) != len(want) {
		t.Fatalf("parseClusterNodes = %v, want %v", got, want)
	}
	for addr, r := range want {
		if !slices.Equal(got[addr], r) {
			t.Errorf("%s: %v, want %v", addr, got[addr], r)
		}
	}
	if _, err := parseClusterNodes("x y z"); err == nil {
		t.Error("a short line parsed")
	}
	if _, err := parseClusterNodes("a 127.0.0.1:1@2 master - 0 0 1 connected 1-x"); err == nil {
		t.Error("a bad slot range parsed")
	}
}
