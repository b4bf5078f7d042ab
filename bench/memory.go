package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Memory per queued message, compared: on a server just emptied by
// FLUSHALL, each library queues N messages of a 100-byte body (Fairway over
// benchFacets facets); the growth of INFO memory's used_memory over N is
// the cost of one message. Connections' buffers, which Redis counts in
// used_memory too, are left out: the enqueuing clients are closed before the
// second reading, and what remains of the growth of mem_clients_normal (the
// probe's own buffers) is subtracted. So is the growth of the script cache
// (used_memory_scripts), and a warm-up fill before the first reading loads
// the library's scripts: a one-off cost of a library's first run on a
// server, not one of its messages.
func memoryComparison() comparison {
	return comparison{
		name:  "memory",
		title: "4. memory",
		rows: []rowSpec{{
			key: "bytes", metric: "used_memory per queued message, 100-byte body", unit: "bytes",
			targets: []target{ratioAtMost(asynqSys, 1.0/3, "⅓ of"), ratioAtMost(asynqSys, 1.0/4, "¼ of")},
		}},
		measure: measures{
			fairwaySys: func(ctx context.Context, e *env) (measurement, error) {
				return measureMemory(ctx, e, e.sizes.memory, explainFairwayMemory, func(n int) (int64, error) {
					f, err := newFairway(ctx, e, "memory")
					if err != nil {
						return 0, err
					}
					defer f.close()
					if _, err := deliverAll(ctx, f.b, f.queue, n); err != nil {
						return 0, err
					}
					return f.ready(ctx)
				})
			},
			asynqSys: func(ctx context.Context, e *env) (measurement, error) {
				return measureMemory(ctx, e, e.sizes.memory, explainAsynqMemory, func(n int) (int64, error) {
					a := newAsynq(e, "memory", e.sizes.asynqEnqueuers)
					defer a.close()
					if _, err := a.enqueueAll(ctx, n, e.sizes.asynqEnqueuers, func(int) []byte { return body100 }); err != nil {
						return 0, err
					}
					return a.pending(ctx)
				})
			},
			riverSys: riverMemory, bullmqSys: bullmqMemory, ceilingSys: ceilingMemory,
		},
	}
}

// memoryWarmup is how many messages the warm-up fill queues.
const memoryWarmup = 1000

// measureMemory warms up, empties the server, reads used_memory, runs fill
// (which sets a library up, queues n messages, closes its clients and
// returns how many messages are queued), waits until the server has let go
// of fill's connections, and reads used_memory again. The delta includes
// the library's setup (a few keys), negligible over n messages.
func measureMemory(ctx context.Context, e *env, n int,
	explain func(context.Context, *redis.Client, int) (string, error), fill func(n int) (int64, error),
) (measurement, error) {
	probe := e.srv.client()
	defer func() { _ = probe.Close() }()
	// A warm-up fill loads the library's scripts, whose bodies stay in
	// Redis's memory after FLUSHALL: a one-off cost, not a per-message one.
	if _, err := fill(memoryWarmup); err != nil {
		return nil, err
	}
	if err := probe.FlushAll(ctx).Err(); err != nil {
		return nil, err
	}
	before, err := memoryInfo(ctx, probe)
	if err != nil {
		return nil, err
	}
	clients, err := connectedClients(ctx, probe)
	if err != nil {
		return nil, err
	}
	queued, err := fill(n)
	if err != nil {
		return nil, err
	}
	if queued != int64(n) {
		return nil, fmt.Errorf("%d messages queued, want %d", queued, n)
	}
	alone, err := waitFor(ctx, 10*time.Second, func() (bool, error) {
		now, err := connectedClients(ctx, probe)
		return now <= clients, err
	})
	if err != nil {
		return nil, err
	}
	if !alone {
		return nil, fmt.Errorf("clients still connected 10s after the fill")
	}
	after, err := memoryInfo(ctx, probe)
	if err != nil {
		return nil, err
	}
	clientsGrew := after["mem_clients_normal"] - before["mem_clients_normal"]
	scriptsGrew := after["used_memory_scripts"] - before["used_memory_scripts"]
	per := float64(after["used_memory"]-before["used_memory"]-clientsGrew-scriptsGrew) / float64(n)
	why, err := explain(ctx, probe, n)
	if err != nil {
		return nil, err
	}
	e.note("used_memory %d → %d bytes, of which connections' buffers (mem_clients_normal) %d → %d and the script cache (used_memory_scripts) %d → %d, for %d messages: %.1f bytes each; %d keys; %s",
		before["used_memory"], after["used_memory"], before["mem_clients_normal"], after["mem_clients_normal"],
		before["used_memory_scripts"], after["used_memory_scripts"], n, per, after["keys"], why)
	return measurement{"bytes": {per}}, nil
}

// memoryInfo reads used_memory, mem_clients_normal and used_memory_scripts
// from INFO memory, and the number of keys.
func memoryInfo(ctx context.Context, rdb *redis.Client) (map[string]int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64)
	for _, k := range []string{"used_memory", "mem_clients_normal", "used_memory_scripts"} {
		if out[k], err = strconv.ParseInt(infoField(info, k), 10, 64); err != nil {
			return nil, fmt.Errorf("INFO memory %s: %w", k, err)
		}
	}
	if out["keys"], err = rdb.DBSize(ctx).Result(); err != nil {
		return nil, err
	}
	return out, nil
}

// connectedClients is INFO clients' connected_clients.
func connectedClients(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "clients").Result()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(infoField(info, "connected_clients"), 10, 64)
}

// explainFairwayMemory breaks the memory down by key (MEMORY USAGE, every
// element sampled): the queue's msgs hash (ID → envelope) and its facets'
// lists of IDs, per message.
func explainFairwayMemory(ctx context.Context, rdb *redis.Client, n int) (string, error) {
	var msgs, lists int64
	iter := rdb.Scan(ctx, 0, "bench-memory:*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		used, err := rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			return "", err
		}
		switch {
		case strings.HasSuffix(key, ":msgs"):
			msgs += used
		case strings.Contains(key, ":f:"):
			lists += used
		}
	}
	if err := iter.Err(); err != nil {
		return "", err
	}
	env, err := rdb.HRandFieldWithValues(ctx, "bench-memory:{memory}:msgs", 1).Result()
	if err != nil || len(env) == 0 {
		return "", fmt.Errorf("no message to sample: %w", err)
	}
	return fmt.Sprintf("MEMORY USAGE per message: msgs hash %.1f bytes (IDs of %d bytes, envelopes of %d), facet lists %.1f bytes",
		float64(msgs)/float64(n), len(env[0].Key), len(env[0].Value), float64(lists)/float64(n)), nil
}

// explainAsynqMemory breaks the memory down by key (MEMORY USAGE): one
// task's hash, and the pending list per message.
func explainAsynqMemory(ctx context.Context, rdb *redis.Client, n int) (string, error) {
	pending := "asynq:{memory}:pending"
	id, err := rdb.LIndex(ctx, pending, 0).Result()
	if err != nil {
		return "", err
	}
	task := "asynq:{memory}:t:" + id
	used, err := rdb.MemoryUsage(ctx, task, 0).Result()
	if err != nil {
		return "", err
	}
	msg, err := rdb.HGet(ctx, task, "msg").Result()
	if err != nil {
		return "", err
	}
	list, err := rdb.MemoryUsage(ctx, pending, 0).Result()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("MEMORY USAGE: one task's hash %d bytes (key name %d bytes, encoded task %d bytes), pending list %.1f bytes per message",
		used, len(task), len(msg), float64(list)/float64(n)), nil
}

// explainBullMQMemory breaks the memory down by key (MEMORY USAGE): one
// job's hash, and the wait list per message.
func explainBullMQMemory(ctx context.Context, rdb *redis.Client, n int) (string, error) {
	wait := "bull:fill:wait"
	id, err := rdb.LIndex(ctx, wait, 0).Result()
	if err != nil {
		return "", err
	}
	job := "bull:fill:" + id
	used, err := rdb.MemoryUsage(ctx, job, 0).Result()
	if err != nil {
		return "", err
	}
	list, err := rdb.MemoryUsage(ctx, wait, 0).Result()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("MEMORY USAGE: one job's hash %d bytes (key name %d bytes), wait list %.1f bytes per message",
		used, len(job), float64(list)/float64(n)), nil
}
