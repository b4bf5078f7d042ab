package worker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/worker"
	"github.com/redis/go-redis/v9"
)

// producerOn returns a broker on rdb in the namespace of b, for delivering.
func producerOn(t *testing.T, rdb redis.UniversalClient, b *broker.Broker) *broker.Broker {
	t.Helper()
	p, err := broker.New(rdb, broker.Config{Namespace: b.Namespace(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// workload delivers messages that take a worker through every outcome: most
// are acked; "retry" fails once; "dead" gives up at once; "slow" outlives
// its lease, which the worker must extend. It returns the handler and a
// func that reports whether every message was settled as planned, read
// through obs.
func workload(t *testing.T, p, obs *broker.Broker, n int) (worker.HandlerFunc, func() bool) {
	t.Helper()
	var ds []broker.Delivery
	for i := range n {
		ds = append(ds, broker.Delivery{Topic: "t", Facet: fmt.Sprint("f", i%5), Body: fmt.Append(nil, i)})
	}
	ds = append(ds,
		broker.Delivery{Topic: "t", Facet: "x", Body: []byte("retry")},
		broker.Delivery{Topic: "t", Facet: "x", Body: []byte("dead")},
		broker.Delivery{Topic: "t", Facet: "x", Body: []byte("slow")},
		broker.Delivery{Topic: "t", Facet: "x", Body: []byte("later"), Delay: 50 * time.Millisecond},
	)
	if err := p.DeliverBatch(context.Background(), ds); err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	var mu sync.Mutex
	done := map[string]int{}
	h := func(ctx context.Context, m *broker.Message) error {
		body := string(m.Body)
		switch {
		case body == "retry" && m.Attempt == 1:
			return worker.RetryAfter(errors.New("once more"), time.Millisecond)
		case body == "dead":
			return worker.SkipRetry(errors.New("never"))
		case body == "slow":
			select { // the workload: longer than the lease
			case <-time.After(400 * time.Millisecond):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		mu.Lock()
		done[body]++
		mu.Unlock()
		return nil
	}
	settled := func() bool {
		mu.Lock()
		defer mu.Unlock()
		st := stats(t, obs)
		return len(done) == n+3 && st.Ready+st.InFlight+st.Delayed == 0 && st.Dead == 1
	}
	return h, settled
}

// TestWorkerOverTLS runs a producer and a worker pool against a
// redis-server that speaks only TLS, through rediss:// URLs trusting the
// test's CA.
func TestWorkerOverTLS(t *testing.T) {
	t.Parallel()
	certs := testutil.NewCertsT(t)
	srv := testutil.StartTLSServerT(t, certs)
	opts, err := redis.ParseURL("rediss://" + srv.Addr() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	opts.TLSConfig.RootCAs = certs.Pool()
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	b := newBroker(t, rdb, broker.Config{LeaseDuration: 150 * time.Millisecond})
	h, settled := workload(t, b, b, 200)
	w := worker.New(b, quick(worker.Config{Concurrency: 8}))
	w.HandleFunc("q", h)
	startWorker(t, w, b)
	testutil.Eventually(t, 20*time.Second, settled, "every message settled over TLS")
}

// aclServer starts a private redis-server and a client of its default
// user.
func aclServer(t *testing.T) (*testutil.Server, *redis.Client) {
	t.Helper()
	srv := testutil.StartServerT(t)
	admin := srv.Client()
	t.Cleanup(func() { _ = admin.Close() })
	return srv, admin
}

func aclClient(t *testing.T, srv *testutil.Server, admin *redis.Client, user string, rules []string) *redis.Client {
	t.Helper()
	if err := testutil.SetACLUser(t.Context(), admin, user, "pw", rules); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: user, Password: "pw"})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// usersLastCommand reports whether a connection of user last ran cmd.
func usersLastCommand(t *testing.T, admin *redis.Client, user, cmd string) bool {
	t.Helper()
	list, err := admin.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(list, "\n") {
		if strings.Contains(line, " user="+user+" ") && strings.Contains(line, " cmd="+cmd+" ") {
			return true
		}
	}
	return false
}

// TestWorkerUnderACL runs a worker pool (which also registers its queue, as
// examples/worker does) and a producer each under the ACL user the README
// documents, after a SCRIPT FLUSH: every message is settled as planned, the
// pub/sub health check's PING goes through, and the ACL LOG stays empty.
func TestWorkerUnderACL(t *testing.T) {
	t.Parallel()
	srv, admin := aclServer(t)
	ns := testutil.Namespace(t)
	wrdb := aclClient(t, srv, admin, "worker", testutil.WorkerACL(ns))
	prdb := aclClient(t, srv, admin, "producer", testutil.ProducerACL(ns))
	if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(wrdb, broker.Config{Namespace: ns, Logger: quietLog, LeaseDuration: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(t.Context(), "q", "."); err != nil {
		t.Fatalf("RegisterQueue as the worker: %v", err)
	}
	h, settled := workload(t, producerOn(t, prdb, b), producerOn(t, admin, b), 100)
	w := worker.New(b, quick(worker.Config{Concurrency: 4}))
	w.HandleFunc("q", h)
	checker, err := broker.New(admin, broker.Config{Namespace: ns, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	startWorkerCheckedBy(t, w, checker)
	testutil.Eventually(t, 20*time.Second, settled, "every message settled")
	// An idle subscription is checked with PING every 3s.
	testutil.Eventually(t, 10*time.Second, func() bool { return usersLastCommand(t, admin, "worker", "ping") },
		"the worker's pub/sub health check")
	if err := w.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"worker", "producer"} {
		denied, err := testutil.ACLDenials(t.Context(), admin, user)
		if err != nil {
			t.Fatal(err)
		}
		if len(denied) > 0 {
			t.Errorf("the ACL refused %s: %v", user, denied)
		}
	}
}

// TestWorkerACLMinimal takes each command the worker's rules grant it,
// apart from those its scripts call, away in turn: the worker must then be
// refused it, so that none is granted for nothing. Each runs on its own
// server, since each flushes the script cache.
func TestWorkerACLMinimal(t *testing.T) {
	t.Parallel()
	for _, cmd := range testutil.ACLWorkerCommands {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			srv, admin := aclServer(t)
			ns := testutil.Namespace(t)
			rules := slices.DeleteFunc(testutil.WorkerACL(ns), func(r string) bool { return r == "+"+cmd })
			if len(rules) == len(testutil.WorkerACL(ns)) {
				t.Fatalf("+%s is not in the rules %v", cmd, rules)
			}
			b, err := broker.New(aclClient(t, srv, admin, "worker", rules), broker.Config{Namespace: ns, Logger: quietLog})
			if err != nil {
				t.Fatal(err)
			}
			setup := producerOn(t, admin, b)
			if err := setup.RegisterQueue(t.Context(), "q", "."); err != nil {
				t.Fatal(err)
			}
			deliverN(t, setup, "f", 3)
			if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			w := worker.New(b, quick(worker.Config{PollInterval: time.Minute}))
			w.HandleFunc("q", nop)
			if err := w.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			refused := func() bool {
				denied, err := testutil.ACLDenials(t.Context(), admin, "worker")
				if err != nil {
					t.Fatal(err)
				}
				return slices.ContainsFunc(denied, func(d string) bool { return strings.Contains(d, " "+cmd+" ") })
			}
			if cmd == "hincrby" || cmd == "pexpire" {
				// The history is written when the worker stops.
				testutil.Eventually(t, 10*time.Second, drained(t, setup), "the messages handled")
				if err := w.Stop(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			// PING comes after 3s of quiet on the subscription.
			testutil.Eventually(t, 10*time.Second, refused, "the worker to need %s", cmd)
			if err := w.Stop(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
