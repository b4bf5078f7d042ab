package broker

import (
	"fmt"
	"strings"
	"testing"
)

// TestKeySlot checks the CRC16 against the test vector of the Redis Cluster
// specification and a few slots that redis-cli's CLUSTER KEYSLOT gives.
func TestKeySlot(t *testing.T) {
	for tag, want := range map[string]int{
		"123456789": 0x31C3 % clusterSlots, // CRC16/XMODEM check value 0x31C3
		"foo":       12182,
		"bar":       5061,
		"":          0,
	} {
		if got := keySlot(tag); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", tag, got, want)
		}
	}
}

// TestPartitionNames checks that partition i's hash slot lies in the i-th
// k-th of the slot space, that names are stable and distinct, and that a
// partition's name leads back to its queue.
func TestPartitionNames(t *testing.T) {
	if got := partitionName("q", 0, 0, 1); got != "q" {
		t.Fatalf("partitionName(q, 0, 0, 1) = %q, want q", got)
	}
	for _, k := range []int{2, 3, 5, 16, MaxPartitions} {
		seen := map[string]bool{}
		for i := range k {
			name := partitionName("orders", 7, i, k)
			if slot := keySlot(name); slot*k/clusterSlots != i {
				t.Fatalf("k=%d: partition %d %q has slot %d, outside its range", k, i, name, slot)
			}
			if !strings.HasPrefix(name, fmt.Sprintf("orders~7.%d", i)) || seen[name] {
				t.Fatalf("k=%d: partition %d named %q", k, i, name)
			}
			seen[name] = true
			if logicalQueue(name) != "orders" {
				t.Fatalf("logicalQueue(%q) = %q", name, logicalQueue(name))
			}
			if again := namesOf("orders", 7, k)[i]; again != name {
				t.Fatalf("namesOf gives %q, partitionName %q", again, name)
			}
		}
	}
}

// TestPartitionOf checks that facets map to partitions stably and spread
// over all of them.
func TestPartitionOf(t *testing.T) {
	const k, facets = 4, 4000
	counts := make([]int, k)
	for i := range facets {
		f := fmt.Sprintf("tenant-%d", i)
		p := partitionOf(f, k)
		if p != partitionOf(f, k) {
			t.Fatalf("partitionOf(%q) is not stable", f)
		}
		counts[p]++
	}
	for p, c := range counts {
		if c < facets/k*8/10 || c > facets/k*12/10 {
			t.Fatalf("partition %d has %d of %d facets: %v", p, c, facets, counts)
		}
	}
	if partitionOf("x", 1) != 0 {
		t.Fatal("a single partition is not partition 0")
	}
}

// TestParseLayout reads the registry's values, and refuses bad ones.
func TestParseLayout(t *testing.T) {
	l, ok := parseLayout("3;2;1700000000000;q,q~1.0.2")
	if !ok || l.count != 3 || l.gen != 2 || l.since != 1700000000000 || strings.Join(l.draining, " ") != "q q~1.0.2" {
		t.Fatalf("parseLayout = %+v, %v", l, ok)
	}
	if l, ok := parseLayout("2;1;5;"); !ok || l.count != 2 || l.draining != nil {
		t.Fatalf("parseLayout(2;1;5;) = %+v, %v", l, ok)
	}
	for _, bad := range []string{"", "2", "0;1;0;", "-1;1;0;", "x;1;0;", "257;1;0;", "2;0;0;", "2;x;0;", "2;1;x;"} {
		if _, ok := parseLayout(bad); ok {
			t.Errorf("parseLayout(%q) accepted", bad)
		}
	}
}

// TestRotationWeights checks that the rotation over partitions gives each a
// share of first places in proportion to its weight, and tries every
// partition in each order.
func TestRotationWeights(t *testing.T) {
	r := &rotation{weight: map[string]int64{}, credit: map[string]int64{}}
	names := []string{"a", "b", "c"}
	r.weigh("a", 1)
	r.weigh("b", 3)
	r.weigh("c", 0)
	first := map[string]int{}
	for range 400 {
		o := r.order(names)
		if len(o) != 3 {
			t.Fatalf("order = %v", o)
		}
		first[o[0]]++
	}
	if first["a"] != 100 || first["b"] != 300 || first["c"] != 0 {
		t.Fatalf("first places %v, want a:100 b:300 c:0", first)
	}
	// All weights 0: plain round robin.
	r.weigh("a", 0)
	r.weigh("b", 0)
	first = map[string]int{}
	for range 30 {
		first[r.order(names)[0]]++
	}
	if first["a"] != 10 || first["b"] != 10 || first["c"] != 10 {
		t.Fatalf("round robin first places %v", first)
	}
}

// TestRotationSplit checks how one pull's count is split over partitions:
// in proportion to their weights, all of it, and the rounding goes round.
func TestRotationSplit(t *testing.T) {
	r := &rotation{weight: map[string]int64{"a": 1, "b": 3, "c": 0}, credit: map[string]int64{}}
	names := []string{"a", "b", "c"}
	got := map[string]int{}
	for range 4 {
		order, shares := r.split(names, 8)
		sum := 0
		for i, name := range order {
			got[name] += shares[i]
			sum += shares[i]
		}
		if sum != 8 {
			t.Fatalf("shares %v of %v sum to %d, want 8", shares, order, sum)
		}
	}
	if got["a"] != 8 || got["b"] != 24 || got["c"] != 0 {
		t.Fatalf("split 4x8 as %v, want a:8 b:24 c:0", got)
	}
	// One message at a time goes to the partitions by weight, in turn.
	got = map[string]int{}
	for range 40 {
		order, shares := r.split(names, 1)
		for i, name := range order {
			got[name] += shares[i]
		}
	}
	if got["a"] != 10 || got["b"] != 30 || got["c"] != 0 {
		t.Fatalf("split 40x1 as %v, want a:10 b:30 c:0", got)
	}
	// Every weight 0: equal shares.
	r = &rotation{weight: map[string]int64{"a": 0, "b": 0, "c": 0}, credit: map[string]int64{}}
	order, shares := r.split(names, 9)
	for i := range order {
		if shares[i] != 3 {
			t.Fatalf("split of 9 over empty partitions: %v %v", order, shares)
		}
	}
}
