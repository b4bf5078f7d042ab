package testutil

import (
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestForEachBackend(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		ran = make(map[string]bool)
	)
	// The backend subtests are parallel; the enclosing t.Run returns only
	// once they have all finished.
	t.Run("group", func(t *testing.T) {
		ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
			key := Namespace(t) + ":k"
			if err := rdb.Set(t.Context(), key, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if got, err := rdb.Get(t.Context(), key).Result(); err != nil || got != "v" {
				t.Fatalf("GET %s = %q, %v; want v", key, got, err)
			}
			mu.Lock()
			ran[t.Name()] = true
			mu.Unlock()
		})
	})
	want := []string{"TestForEachBackend/group/miniredis"}
	if _, err := findServerBinary(); err == nil {
		want = append(want, "TestForEachBackend/group/redis-server")
	}
	for _, name := range want {
		if !ran[name] {
			t.Errorf("backend subtest %s did not run; ran %v", name, ran)
		}
	}
}

func TestBackendsNames(t *testing.T) {
	t.Parallel()
	var names []string
	for _, b := range Backends() {
		if b.Client == nil {
			t.Errorf("backend %q has no Client func", b.Name)
		}
		names = append(names, b.Name)
	}
	if len(names) != 2 || names[0] != "miniredis" || names[1] != "redis-server" {
		t.Fatalf("Backends() names = %v; want [miniredis redis-server]", names)
	}
}
