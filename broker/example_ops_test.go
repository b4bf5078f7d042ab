package broker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// Deliver routes a message by its "topic" to every queue whose pattern
// matches; a topic no queue matches is only published.
func ExampleBroker_Deliver() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "emails", `^user\.`)
	_ = b.RegisterQueue(ctx, "audit", `.`)

	if err := b.Deliver(ctx, map[string]any{"topic": "user.signup", "facet": "acme"}); err != nil {
		panic(err)
	}
	for _, q := range []string{"emails", "audit"} {
		st, _ := b.Stats(ctx, q)
		fmt.Println(q, "ready", st.Ready)
	}
	// Output:
	// emails ready 1
	// audit ready 1
}

// Nack retries a message after a delay; when its attempts run out it
// becomes a dead letter, which DeadLetters lists with the reason.
func ExampleBroker_Nack() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "jobs", `^job$`)
	_ = b.Deliver(ctx, map[string]any{"topic": "job"})

	m, _ := b.Pull(ctx, "jobs")
	if err := b.Nack(ctx, m, time.Minute); err != nil {
		panic(err)
	}
	st, _ := b.Stats(ctx, "jobs")
	fmt.Println("delayed", st.Delayed)
	// Output:
	// delayed 1
}

// DeadLetters lists the messages that ran out of attempts, with why.
func ExampleBroker_DeadLetters() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "jobs", `^job$`)
	// One attempt only: the first Nack dead-letters the message.
	_ = b.Deliver(ctx, map[string]any{"topic": "job", "n": 1}, broker.WithMaxAttempts(1))

	m, _ := b.Pull(ctx, "jobs")
	if err := b.Nack(ctx, m, 0, broker.WithReason(errors.New("smtp down"))); err != nil {
		panic(err)
	}
	dead, err := b.DeadLetters(ctx, "jobs", 0, 10)
	if err != nil {
		panic(err)
	}
	for _, d := range dead {
		fmt.Printf("%s: %s\n", d.Body, d.Error)
	}
	// Output:
	// {"n":1,"topic":"job"}: smtp down
}

// SetRateLimit caps how many messages a queue hands out per period; Burst
// is how many may go at once (1 when zero).
func ExampleBroker_SetRateLimit() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "api", `^call$`)
	for range 3 {
		_ = b.Deliver(ctx, map[string]any{"topic": "call"})
	}
	if err := b.SetRateLimit(ctx, "api", broker.RateLimit{N: 2, Per: time.Hour, Burst: 2}); err != nil {
		panic(err)
	}
	for range 3 {
		m, err := b.Pull(ctx, "api")
		fmt.Println(m != nil, err)
	}
	// Output:
	// true <nil>
	// true <nil>
	// false <nil>
}

// Subscribe receives every delivery whose topic matches a glob, at most
// once, whether or not a queue takes it.
func ExampleBroker_Subscribe() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "user.*")
	if err != nil {
		panic(err)
	}
	defer func() { _ = sub.Close() }()

	_ = b.DeliverBytes(ctx, "user.signup", "acme", []byte(`{"id":7}`))
	e := <-sub.Channel()
	fmt.Printf("%s %s\n", e.Topic, e.Body)
	// Output:
	// user.signup {"id":7}
}
