package worker

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"sync"
)

// health is what the health endpoints report.
type health struct {
	mu       sync.Mutex
	running  bool
	draining bool
	redisErr error
	// serverErr is a Redis that may lose messages (broker.CheckServer).
	serverErr error
	// missing holds the served queues found missing, each with why it
	// stays so (see runner.unknownQueue).
	missing map[string]error
}

func (h *health) setRunning(v bool) { h.mu.Lock(); h.running = v; h.mu.Unlock() }

func (h *health) setDraining(v bool) { h.mu.Lock(); h.draining = v; h.mu.Unlock() }

func (h *health) setRedisErr(err error) { h.mu.Lock(); h.redisErr = err; h.mu.Unlock() }

func (h *health) setServerErr(err error) { h.mu.Lock(); h.serverErr = err; h.mu.Unlock() }

// setMissing records that queue is missing, for err (nil: it is not), and
// reports whether that changed whether it is missing.
func (h *health) setMissing(queue string, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, was := h.missing[queue]
	if err == nil {
		delete(h.missing, queue)
		return was
	}
	if h.missing == nil {
		h.missing = make(map[string]error)
	}
	h.missing[queue] = err
	return !was
}

// Ready returns nil when the worker is running, not draining, its last
// call to Redis succeeded, every queue it serves exists (an error wrapping
// ErrQueueMissing names each that does not), and Redis cannot lose messages by evicting keys
// (broker.CheckServer; broker.Config.AllowEviction accepts that); otherwise
// an error saying why not.
func (w *Worker) Ready() error {
	h := &w.health
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.running:
		return errors.New("worker: not running")
	case h.draining:
		return errors.New("worker: draining")
	case h.redisErr != nil:
		return errors.New("worker: redis unreachable: " + h.redisErr.Error())
	case len(h.missing) > 0:
		var errs []error
		for _, q := range slices.Sorted(maps.Keys(h.missing)) {
			errs = append(errs, h.missing[q])
		}
		return errors.Join(errs...)
	case h.serverErr != nil:
		return errors.New("worker: " + h.serverErr.Error())
	}
	return nil
}

// HealthHandler serves /healthz (the process is alive: always 200) and
// /readyz (200 when Ready, else 503 with the reason), each with a small JSON
// body. Mount it on an internal port for Kubernetes probes.
func (w *Worker) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if err := w.Ready(); err != nil {
			writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(rw, http.StatusOK, map[string]string{"status": "ready"})
	})
	return mux
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(v)
}
