package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// RegisterQueue with a queue's own pattern changes nothing; with another
// it is refused, naming both, and the queue keeps its pattern (in the
// registry and in the queue: a delivery by the old pattern still lands);
// ReplacePattern changes it; an unregistered queue takes any pattern.
func TestRegisterQueuePatternConflict(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "reports", `^report\.`)
		register(t, b, "reports", `^report\.`) // same pattern: a no-op
		err := b.RegisterQueue(ctx, "reports", `^reports(\.|$)`)
		if !errors.Is(err, broker.ErrPatternConflict) {
			t.Fatalf("RegisterQueue with another pattern: %v, want ErrPatternConflict", err)
		}
		for _, want := range []string{`"reports"`, "`^report\\.`", "`^reports(\\.|$)`", "ReplacePattern"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %s", err, want)
			}
		}
		// A broker whose cache is empty reaches the scripts' checks.
		other := newBroker(t, rdb, broker.Config{Namespace: b.Namespace()})
		if err := other.RegisterQueue(ctx, "reports", `^reports(\.|$)`); !errors.Is(err, broker.ErrPatternConflict) {
			t.Fatalf("RegisterQueue with another pattern from a fresh broker: %v, want ErrPatternConflict", err)
		}
		wantPattern(t, b, "reports", `^report\.`)
		deliver(t, b, "report.monthly", "acme", "1")
		wantStats(t, b, "reports", broker.QueueStats{Ready: 1, Facets: 1, Routed: true})

		if err := b.RegisterQueue(ctx, "reports", `^reports(\.|$)`, broker.ReplacePattern()); err != nil {
			t.Fatalf("RegisterQueue with ReplacePattern: %v", err)
		}
		wantPattern(t, b, "reports", `^reports(\.|$)`)
		deliver(t, b, "report.monthly", "acme", "2") // no longer routed
		deliver(t, b, "reports.monthly", "acme", "3")
		wantStats(t, b, "reports", broker.QueueStats{Ready: 2, Facets: 1, Routed: true})

		if err := b.UnregisterQueue(ctx, "reports"); err != nil {
			t.Fatal(err)
		}
		register(t, b, "reports", `^anything$`) // unregistered: any pattern
		wantPattern(t, b, "reports", `^anything$`)
	})
}

// The same pattern with WithPartitions changes the count, as before; a
// partitioned queue refuses another pattern on each partition.
func TestRegisterQueuePatternConflictPartitioned(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newBroker(t, rdb, broker.Config{})
		register(t, b, "q", `^t`)
		if err := b.RegisterQueue(ctx, "q", `^t`, broker.WithPartitions(3)); err != nil {
			t.Fatalf("same pattern, 3 partitions: %v", err)
		}
		if p := partitionsOf(t, b, "q"); p.Count != 3 {
			t.Fatalf("partitions %+v, want 3", p)
		}
		if err := b.RegisterQueue(ctx, "q", `^u`, broker.WithPartitions(2)); !errors.Is(err, broker.ErrPatternConflict) {
			t.Fatalf("another pattern: %v, want ErrPatternConflict", err)
		}
		if p := partitionsOf(t, b, "q"); p.Count != 3 {
			t.Fatalf("partitions %+v after a refused change, want 3", p)
		}
		for i := range 6 {
			deliver(t, b, "t", fmt.Sprint("f", i), "x")
		}
		if err := b.RegisterQueue(ctx, "q", `^u`, broker.ReplacePattern()); err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			deliver(t, b, "u", fmt.Sprint("f", i), "x")
			deliver(t, b, "t", fmt.Sprint("f", i), "x") // routed no more
		}
		if s := stats(t, b, "q"); s.Ready != 12 {
			t.Fatalf("%d ready, want 12 (6 by each pattern)", s.Ready)
		}
	})
}

// Of brokers racing to register one new queue with different patterns, one
// wins and the others are refused: the registry and the queue agree on the
// winner's pattern.
func TestRegisterQueueRace(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for round := range 10 {
			queue := fmt.Sprint("q", round)
			ns := testutil.Namespace(t)
			const n = 4
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				b := newBroker(t, rdb, broker.Config{Namespace: ns})
				wg.Go(func() { errs[i] = b.RegisterQueue(t.Context(), queue, fmt.Sprintf("^p%d$", i)) })
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner < 0:
					winner = i
				case err == nil:
					t.Fatalf("round %d: patterns %d and %d both registered", round, winner, i)
				case !errors.Is(err, broker.ErrPatternConflict):
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: every registration refused: %v", round, errs)
			}
			b := newBroker(t, rdb, broker.Config{Namespace: ns})
			wantPattern(t, b, queue, fmt.Sprintf("^p%d$", winner))
			for i := range n {
				deliver(t, b, fmt.Sprint("p", i), "f", "x")
			}
			if s := stats(t, b, queue); s.Ready != 1 {
				t.Fatalf("round %d: %d ready, want 1 (the winner's topic only)", round, s.Ready)
			}
		}
	})
}

// A registration whose reply is lost after Redis ran it, and that go-redis
// sends again, succeeds: the second run finds the pattern it set.
func TestRegisterQueueReplayed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	steps := map[string]string{"create_queue": "}:\r\n", "registry": ":{~registry}:queues\r\n"}
	for step, key := range steps {
		for _, replace := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/replace=%v", step, replace), func(t *testing.T) {
				t.Parallel()
				lossy, direct, p := lossyBroker(t, 0)
				const pattern = `^changed\.`
				var opts []broker.QueueOption
				queue := "fresh"
				if replace {
					queue, opts = "q", []broker.QueueOption{broker.ReplacePattern()}
				}
				p.SetMatch(func(req []byte) bool {
					r := string(req)
					return testutil.MatchCommands("EVALSHA", "EVAL")(req) &&
						strings.Contains(r, key) && strings.Contains(r, "\r\n"+pattern+"\r\n")
				})
				p.DropNext(1)
				if err := lossy.RegisterQueue(ctx, queue, pattern, opts...); err != nil {
					t.Fatalf("RegisterQueue with the reply of %s lost: %v", step, err)
				}
				requireDropped(t, p, 1)
				wantPattern(t, direct, queue, pattern)
				deliver(t, direct, "changed.x", "f", "x")
				wantStats(t, direct, queue, broker.QueueStats{Ready: 1, Facets: 1, Routed: true})
			})
		}
	}
}

// wantPattern fails t unless the registry holds pattern for queue.
func wantPattern(t *testing.T, b *broker.Broker, queue, pattern string) {
	t.Helper()
	qs, err := b.Queues(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if qs[queue] != pattern {
		t.Fatalf("queue %q has pattern %q, want %q", queue, qs[queue], pattern)
	}
}

// A producer's registry cache is not taken for current after Redis
// restarted empty and the new registry reached the version it cached: the
// version of a new registry starts at Redis's clock, not at 1.
func TestRegistryCacheAfterRedisLostIt(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t) // no persistence: a restart loses everything
	ctx := t.Context()
	admin, via := srv.Client(), srv.Client()
	t.Cleanup(func() { _ = admin.Close(); _ = via.Close() })
	ns := testutil.Namespace(t)
	a := newBroker(t, admin, broker.Config{Namespace: ns})
	producer := newBroker(t, via, broker.Config{Namespace: ns})
	register(t, a, "a", `^a\.`)
	register(t, a, "b", `^b\.`)
	deliver(t, producer, "c.1", "f", "routed nowhere") // caches the registry of {a, b}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if n, err := admin.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("after the restart DBSIZE = %d, %v: want an empty Redis", n, err)
	}
	register(t, a, "c", `^c\.`)
	register(t, a, "d", `^d\.`) // as many changes as before the restart
	deliver(t, producer, "c.1", "f", "x")
	wantStats(t, a, "c", broker.QueueStats{Ready: 1, Facets: 1, Routed: true})
}

// replacePattern registers queue with pattern, replacing the one it has.
func replacePattern(t *testing.T, b *broker.Broker, queue, pattern string) {
	t.Helper()
	if err := b.RegisterQueue(t.Context(), queue, pattern, broker.ReplacePattern()); err != nil {
		t.Fatalf("RegisterQueue(%q, %q, ReplacePattern()): %v", queue, pattern, err)
	}
}
