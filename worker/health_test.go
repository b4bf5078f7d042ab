package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

func probe(t *testing.T, h http.Handler, path string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

func TestHealthEndpoints(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newBroker(t, rdb, broker.Config{})
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(context.Context, *broker.Message) error { return nil })
		h := w.HealthHandler()
		if got := probe(t, h, "/healthz"); got != http.StatusOK {
			t.Fatalf("/healthz before start = %d", got)
		}
		if got := probe(t, h, "/readyz"); got != http.StatusServiceUnavailable {
			t.Fatalf("/readyz before start = %d, want 503", got)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { return probe(t, h, "/readyz") == http.StatusOK }, "never ready")
		if err := w.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := probe(t, h, "/readyz"); got != http.StatusServiceUnavailable {
			t.Fatalf("/readyz after stop = %d, want 503", got)
		}
		if got := probe(t, h, "/healthz"); got != http.StatusOK {
			t.Fatalf("/healthz after stop = %d", got)
		}
	})
}

// TestSurvivesRedisOutage stops the real redis-server under a running
// worker, checks that it reports not-ready, then brings Redis back and checks
// that the worker resumes by itself with nothing lost.
func TestSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	b := newBroker(t, rdb, broker.Config{})
	seen := make(chan string, 100)
	w := worker.New(b, quick(worker.Config{}))
	w.HandleFunc("q", func(_ context.Context, m *broker.Message) error {
		seen <- string(m.Body)
		return nil
	})
	startWorker(t, w, b)
	deliverN(t, b, "before", 5)
	for range 5 {
		<-seen
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return w.Ready() != nil }, "worker still ready with Redis down")
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() bool { return w.Ready() == nil }, "worker not ready after Redis came back: %v", w.Ready)
	deliverN(t, b, "after", 5)
	got := map[string]bool{}
	deadline := time.After(15 * time.Second)
	for len(got) < 5 {
		select {
		case body := <-seen:
			got[body] = true
		case <-deadline:
			t.Fatalf("after the outage the worker handled %v", got)
		}
	}
}

// A worker on a Redis that may evict keys is not ready, and says why,
// unless the broker's AllowEviction accepts it; it handles messages all the
// same. (It asks again every 30 s; this test does not wait for that.)
func TestNotReadyOnEvictingRedis(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t, "--maxmemory-policy", "allkeys-lru")
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	for _, allow := range []bool{false, true} {
		b := newBroker(t, rdb, broker.Config{AllowEviction: allow})
		handled := make(chan struct{}, 1)
		w := worker.New(b, quick(worker.Config{}))
		w.HandleFunc("q", func(context.Context, *broker.Message) error { handled <- struct{}{}; return nil })
		if err := b.RegisterQueue(t.Context(), "q", "."); err != nil {
			t.Fatal(err)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := b.DeliverBytes(t.Context(), "t", "f", []byte("x")); err != nil {
			t.Fatal(err)
		}
		<-handled
		h := w.HealthHandler()
		if allow {
			testutil.Eventually(t, 5*time.Second, func() bool { return probe(t, h, "/readyz") == http.StatusOK }, "ready with AllowEviction")
		} else {
			testutil.Eventually(t, 5*time.Second, func() bool {
				err := w.Ready()
				return err != nil && strings.Contains(err.Error(), "allkeys-lru") && strings.Contains(err.Error(), "evict")
			}, "not ready on an evicting Redis, naming its policy")
			if got := probe(t, h, "/readyz"); got != http.StatusServiceUnavailable {
				t.Errorf("/readyz on an evicting Redis = %d, want 503", got)
			}
		}
		if err := w.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
