package broker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// Pull with a lease of its own, and learn when a rate-limited facet frees
// up, so that a consumer that found nothing sleeps until then.
func ExampleBroker_PullWith() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()

	if err := b.RegisterQueue(ctx, "emails", `^user\.`); err != nil {
		panic(err)
	}
	// Each facet may be pulled once an hour.
	if err := b.SetRateLimit(ctx, "emails", broker.RateLimit{N: 1, Per: time.Hour}); err != nil {
		panic(err)
	}
	for range 2 {
		if err := b.DeliverBytes(ctx, "user.signup", "acme", []byte("hi")); err != nil {
			panic(err)
		}
	}

	r, err := b.PullWith(ctx, "emails", broker.PullOptions{Count: 2, Lease: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	wait := r.NextReadyAt.Sub(r.Now)
	fmt.Printf("leased %d; the next frees up in about %v\n", len(r.Messages), wait.Round(time.Hour))
	// Output:
	// leased 1; the next frees up in about 1h0m0s
}
