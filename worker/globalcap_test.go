package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// The environment of a worker process started by
// TestGlobalConcurrencyAcrossProcesses: the Redis address and the
// namespace. Unset, TestGlobalCapWorkerProcess does nothing.
const (
	capWorkerAddr = "FAIRWAY_TEST_CAP_WORKER_ADDR"
	capWorkerNS   = "FAIRWAY_TEST_CAP_WORKER_NS"
)

// enterScript adds a running handler to the set KEYS[1] and keeps the most
// seen at once in KEYS[2], in one step, so that handlers of every process
// are counted against one another.
var enterScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local n = redis.call('SCARD', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n`)

// TestGlobalCapWorkerProcess is the worker process of
// TestGlobalConcurrencyAcrossProcesses: it serves queue "q" with 4
// handlers until it is killed or its parent's test ends. Each handler marks
// itself running in Redis for its whole run ("<pid>:<message ID>").
func TestGlobalCapWorkerProcess(t *testing.T) {
	addr, ns := os.Getenv(capWorkerAddr), os.Getenv(capWorkerNS)
	if addr == "" {
		t.Skip("only run as a worker process by TestGlobalConcurrencyAcrossProcesses")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = rdb.Close() }()
	b, err := broker.New(rdb, broker.Config{Namespace: ns, Logger: quietLog, LeaseDuration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	running, most := ns+":test:running", ns+":test:most"
	pid := strconv.Itoa(os.Getpid())
	w := worker.New(b, quick(worker.Config{Concurrency: 4, PollInterval: 200 * time.Millisecond}))
	w.HandleFunc("q", func(ctx context.Context, m *broker.Message) error {
		me := pid + ":" + m.ID
		if err := enterScript.Run(ctx, rdb, []string{running, most}, me).Err(); err != nil {
			return err
		}
		time.Sleep(15 * time.Millisecond)
		// Out of the set before the ack: a handler is counted only while
		// its message is leased.
		return rdb.SRem(ctx, running, me).Err()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := w.Run(ctx); err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
}

// A global cap holds over several worker processes, some killed along the
// way, measured from the handlers themselves: never more than the cap run
// at once, and a killed process's slots return when its leases end.
func TestGlobalConcurrencyAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Parallel()
	const procs, capacity, messages = 4, 5, 600
	rdb := testutil.RealRedis(t)
	addr := rdb.Options().Addr
	ctx := t.Context()
	ns := testutil.Namespace(t)
	b, err := broker.New(rdb, broker.Config{Namespace: ns, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(ctx, "q", "."); err != nil {
		t.Fatal(err)
	}
	if err := b.SetGlobalConcurrency(ctx, "q", capacity); err != nil {
		t.Fatal(err)
	}
	var ds []broker.Delivery
	for i := range messages {
		ds = append(ds, broker.Delivery{Topic: "t", Facet: fmt.Sprintf("f%d", i%7), Body: []byte("x")})
	}
	if err := b.DeliverBatch(ctx, ds); err != nil {
		t.Fatal(err)
	}
	running, most := ns+":test:running", ns+":test:most"

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalCapWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), capWorkerAddr+"="+addr, capWorkerNS+"="+ns)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		return cmd
	}
	// kill ends a process as a crash would, then drops its handlers from
	// the running set: they died with it, while their leases still hold
	// its slots until they expire.
	kill := func(cmd *exec.Cmd) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		members, err := rdb.SMembers(ctx, running).Result()
		if err != nil {
			t.Fatal(err)
		}
		prefix := strconv.Itoa(cmd.Process.Pid) + ":"
		for _, m := range members {
			if strings.HasPrefix(m, prefix) {
				rdb.SRem(ctx, running, m)
			}
		}
	}
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = start()
	}
	done := func() bool {
		s, err := b.Stats(ctx, "q")
		return err == nil && s.Ready+s.InFlight+s.Delayed == 0
	}
	deadline := time.Now().Add(2 * time.Minute)
	for kills := 0; !done(); {
		if time.Now().After(deadline) {
			s, _ := b.Stats(ctx, "q")
			t.Fatalf("messages left after 2 minutes: %+v", s)
		}
		time.Sleep(300 * time.Millisecond)
		if kills < 3 {
			i := kills % procs
			kill(cmds[i])
			cmds[i] = start()
			kills++
		}
	}
	n, err := rdb.Get(ctx, most).Int()
	if err != nil {
		t.Fatal(err)
	}
	if n > capacity {
		t.Fatalf("%d handlers ran at once over %d processes; the global cap is %d", n, procs, capacity)
	}
	if n < capacity-1 {
		t.Fatalf("at most %d handlers ran at once; with %d processes of 4 the cap of %d should be reached", n, procs, capacity)
	}
	if s := stats(t, b); s.Dead != 0 {
		t.Fatalf("Stats = %+v; want every message handled", s)
	}
	t.Logf("most handlers at once: %d (cap %d, %d processes, 3 killed)", n, capacity, procs)
}
