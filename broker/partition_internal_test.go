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
			if again := partitionNames("orders", 7, k)[i]; again != name {
				t.Fatalf("partitionNames gives %q, partitionName %q", again, name)
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

// TestRotationSplit checks how pulls are split over partitions: in
// proportion to their weights over time, all of n each time, small pulls to
// one partition, and an idle partition asked now and then.
func TestRotationSplit(t *testing.T) {
	names := []string{"a", "b", "c"}
	for _, tc := range []struct {
		n, calls, most int // messages per pull, pulls, partitions asked at most
	}{{40, 10, 3}, {1, 50, 1}, {4, 50, 1}, {16, 25, 2}} {
		r := &partitionSpread{weight: map[string]int64{"a": 1, "b": 3, "c": 0}, owed: map[string]float64{}}
		got := map[string]int{}
		for range tc.calls {
			order, shares := r.split(names, tc.n)
			sum, asked := 0, 0
			for i, name := range order {
				got[name] += shares[i]
				sum += shares[i]
				if shares[i] > 0 {
					asked++
				}
			}
			if sum != tc.n || asked > tc.most {
				t.Fatalf("n=%d: shares %v of %v: sum %d, %d asked (at most %d)", tc.n, shares, order, sum, asked, tc.most)
			}
		}
		// Weights 1:3:1 (c had no turns: it weighs 1), give or take what
		// is owed at the end: less than a pull's worth of minShare.
		all, slack := tc.n*tc.calls, max(1, tc.n/minShare)
		for name, w := range map[string]int{"a": 1, "b": 3, "c": 1} {
			want := all * w / 5
			if d := got[name] - want; d < -slack || d > slack {
				t.Errorf("n=%d: %s got %d of %d, want %d±%d (%v)", tc.n, name, got[name], all, want, slack, got)
			}
		}
	}
}
