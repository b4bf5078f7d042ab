package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// WithReceipt tells the producer the message's ID and the queues it
// reached; a topic no queue matches reaches none.
func ExampleWithReceipt() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "emails", `^user\.`)
	_ = b.RegisterQueue(ctx, "audit", `.`)

	var r broker.Receipt
	if err := b.DeliverBytes(ctx, "user.signup", "acme", []byte("hi"), broker.WithReceipt(&r)); err != nil {
		panic(err)
	}
	fmt.Println("queues:", r.Queues)
	m, _ := b.Pull(ctx, "emails")
	fmt.Println("pulled the receipt's message:", m.ID == r.ID)
	// Output:
	// queues: [audit emails]
	// pulled the receipt's message: true
}

// RequireQueue turns a delivery that no queue would get, as one with a
// mistyped topic, into an error on the first call; nothing is written.
// PublishOnly lets one delivery reach no queue where Config.Unrouted
// requires a queue for all.
func ExampleRequireQueue() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "emails", `^user\.`)

	err := b.DeliverBytes(ctx, "usr.signup", "acme", []byte("hi"), broker.RequireQueue())
	fmt.Println(errors.Is(err, broker.ErrNoQueue), err)
	var r broker.Receipt
	err = b.DeliverBytes(ctx, "news", "acme", []byte("hi"), broker.PublishOnly(), broker.WithReceipt(&r))
	fmt.Println(err, len(r.Queues))
	// Output:
	// true broker: no queue matches the topic: topic "usr.signup"; nothing was delivered
	// <nil> 0
}

// DeliverJSON delivers a Go value as its JSON, with the topic and facet
// given apart from it (Deliver's map keeps them in the body), and returns
// its ID; a worker.JSON[T] handler decodes the same body into a T.
func ExampleDeliverJSON() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "emails", `^user\.`)

	type signup struct {
		Email string `json:"email"`
	}
	id, err := broker.DeliverJSON(ctx, b, "user.signup", "acme", signup{Email: "ann@example.com"})
	if err != nil {
		panic(err)
	}
	m, _ := b.Pull(ctx, "emails")
	var v signup
	_ = json.Unmarshal(m.Body, &v)
	fmt.Println("pulled the delivered ID:", m.ID == id)
	fmt.Printf("%s/%s: %s, decoded %q\n", m.Topic, m.Facet, m.Body, v.Email)
	// Output:
	// pulled the delivered ID: true
	// user.signup/acme: {"email":"ann@example.com"}, decoded "ann@example.com"
}

// WithTTL expires a message that has not started in time: when its turn
// comes it becomes a dead letter with the reason "expired" (or is dropped,
// by the queue's SetExpiryPolicy), and the pull goes on to the next one.
func ExampleWithTTL() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "alerts", `^alert\.`)

	_ = b.DeliverBytes(ctx, "alert.page", "acme", []byte("site down"), broker.WithTTL(20*time.Millisecond))
	_ = b.DeliverBytes(ctx, "alert.page", "acme", []byte("disk full"), broker.WithTTL(time.Hour))
	time.Sleep(50 * time.Millisecond) // no worker pulled the first in time
	m, _ := b.Pull(ctx, "alerts")
	fmt.Printf("pulled %q, expiring in an hour: %v\n", m.Body, time.Until(m.ExpiresAt).Round(time.Hour) == time.Hour)
	dead, _ := b.DeadLetters(ctx, "alerts", 0, 10)
	fmt.Printf("dead: %q (%s)\n", dead[0].Body, dead[0].Error)
	// Output:
	// pulled "disk full", expiring in an hour: true
	// dead: "site down" (expired)
}
