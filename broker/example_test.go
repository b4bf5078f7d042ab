package broker_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/fairwayhq/fairway/broker"
	"github.com/redis/go-redis/v9"
)

// exampleBroker returns a broker on an embedded miniredis and a function
// that closes both.
func exampleBroker() (*broker.Broker, func()) {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	b, err := broker.New(rdb, broker.Config{})
	if err != nil {
		panic(err)
	}
	return b, func() { _ = rdb.Close(); mr.Close() }
}

// Deliver a message to a queue, pull it and ack it.
func Example() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()

	// The emails queue takes every message whose topic starts with "user.".
	if err := b.RegisterQueue(ctx, "emails", `^user\.`); err != nil {
		panic(err)
	}
	msg := map[string]any{"topic": "user.signup", "facet": "acme", "email": "ann@example.com"}
	if err := b.Deliver(ctx, msg); err != nil {
		panic(err)
	}

	m, err := b.Pull(ctx, "emails")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s from %s, attempt %d: %s\n", m.Topic, m.Facet, m.Attempt, m.Body)
	if err := b.Ack(ctx, m); err != nil {
		panic(err)
	}

	st, err := b.Stats(ctx, "emails")
	if err != nil {
		panic(err)
	}
	fmt.Printf("ready %d, in flight %d\n", st.Ready, st.InFlight)
	// Output:
	// user.signup from acme, attempt 1: {"email":"ann@example.com","facet":"acme","topic":"user.signup"}
	// ready 0, in flight 0
}

// A tenant that floods a queue does not delay the others: pulls take the
// facets in turn.
func ExampleBroker_Pull_fairRotation() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()

	if err := b.RegisterQueue(ctx, "jobs", "."); err != nil {
		panic(err)
	}
	for _, tenant := range []string{"big", "big", "big", "big", "small", "tiny", "small"} {
		if err := b.DeliverBytes(ctx, "job", tenant, []byte("work")); err != nil {
			panic(err)
		}
	}

	var order []string
	for {
		m, err := b.Pull(ctx, "jobs")
		if err != nil {
			panic(err)
		}
		if m == nil { // nothing left
			break
		}
		order = append(order, m.Facet)
		if err := b.Ack(ctx, m); err != nil {
			panic(err)
		}
	}
	fmt.Println(strings.Join(order, " "))
	// Output:
	// big small tiny big small big big
}

// A facet of priority 2 gets two turns for every turn of a facet of priority
// 1, as in the original Fairway's test suite.
func ExampleBroker_SetFacetPriority() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()

	if err := b.RegisterQueue(ctx, "jobs", "."); err != nil {
		panic(err)
	}
	for i := range 8 {
		facet := "1"
		if i >= 5 {
			facet = "2"
		}
		if err := b.Deliver(ctx, map[string]any{"facet": facet, "n": i}); err != nil {
			panic(err)
		}
	}
	if err := b.SetFacetPriority(ctx, "jobs", "1", 2); err != nil {
		panic(err)
	}

	var order []string
	for {
		m, err := b.Pull(ctx, "jobs")
		if err != nil {
			panic(err)
		}
		if m == nil {
			break
		}
		order = append(order, m.Facet)
		if err := b.Ack(ctx, m); err != nil {
			panic(err)
		}
	}
	fmt.Println(strings.Join(order, ","))
	// Output:
	// 1,2,1,1,2,1,1,2
}

// Split a queue into partitions, each a queue of its own in Redis that a
// Redis Cluster can place on its own master; then change their count on the
// live queue. Facets keep their order and still take turns across the whole
// queue.
func ExampleBroker_SetPartitions() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()

	if err := b.RegisterQueue(ctx, "emails", ".", broker.WithPartitions(3)); err != nil {
		panic(err)
	}
	for _, facet := range []string{"acme", "globex", "initech", "acme"} {
		if err := b.DeliverBytes(ctx, "email.send", facet, []byte("hello "+facet)); err != nil {
			panic(err)
		}
	}
	// The messages queued so far stay in the 3 old partitions, which are
	// pulled first until empty; new ones go to the 2 new partitions.
	if err := b.SetPartitions(ctx, "emails", 2); err != nil {
		panic(err)
	}
	p, err := b.Partitions(ctx, "emails")
	if err != nil {
		panic(err)
	}
	fmt.Println("partitions:", p.Count, "draining:", len(p.Draining))
	s, err := b.Stats(ctx, "emails")
	if err != nil {
		panic(err)
	}
	fmt.Println("ready:", s.Ready, "facets:", s.Facets)
	// Output:
	// partitions: 2 draining: 3
	// ready: 4 facets: 3
}
