package broker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// The worked example of docs/limits.md: an upstream API takes 100 calls a
// second in all and 10 at once, and each customer is allowed 10 a second
// and 2 at once; one big customer pays for more parallelism. The layers
// compose in the pull script: the pulls here take the customers in turn
// until each is at its in-flight limit (acme's own 4, the others' 2) and
// the queue at its global cap of 10.
func ExampleBroker_SetGlobalConcurrency() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "api-calls", `^api\.`)

	_ = b.SetInflightLimit(ctx, "api-calls", 2)                                                      // every customer: 2 at once
	_ = b.SetFacetInflightLimit(ctx, "api-calls", "acme", 4)                                         // acme pays for 4
	_ = b.SetRateLimit(ctx, "api-calls", broker.RateLimit{N: 10, Per: time.Second, Burst: 10})       // each: 10/s
	_ = b.SetQueueRateLimit(ctx, "api-calls", broker.RateLimit{N: 100, Per: time.Second, Burst: 20}) // all: 100/s
	_ = b.SetGlobalConcurrency(ctx, "api-calls", 10)                                                 // all workers together: 10 at once

	var batch []broker.Delivery
	for _, customer := range []string{"acme", "globex", "initech", "umbrella"} {
		for range 5 {
			batch = append(batch, broker.Delivery{Topic: "api.call", Facet: customer, Body: []byte("{}")})
		}
	}
	_ = b.DeliverBatch(ctx, batch)

	leased := map[string]int{}
	for range 3 {
		ms, _ := b.PullN(ctx, "api-calls", 10)
		for _, m := range ms {
			leased[m.Facet]++
		}
	}
	st, _ := b.Stats(ctx, "api-calls")
	fmt.Println("in flight:", st.InFlight, "of", st.GlobalConcurrency)
	fmt.Println("acme", leased["acme"], "globex", leased["globex"], "initech", leased["initech"], "umbrella", leased["umbrella"])
	// Output:
	// in flight: 10 of 10
	// acme 4 globex 2 initech 2 umbrella 2
}

// Admission control: each tenant may hold 3 messages waiting, acme 5, and
// the queue 100 in all. A delivery past a cap is refused, and nothing of it
// is written; the error says which tenant and cap.
func ExampleBroker_SetBacklogLimit() {
	b, closeAll := exampleBroker()
	defer closeAll()
	ctx := context.Background()
	_ = b.RegisterQueue(ctx, "emails", `^emails\.`)

	_ = b.SetBacklogLimit(ctx, "emails", 3)              // each tenant: 3 waiting at most
	_ = b.SetFacetBacklogLimit(ctx, "emails", "acme", 5) // acme sends newsletters
	_ = b.SetQueueBacklogLimit(ctx, "emails", 100)       // all tenants together

	for _, tenant := range []string{"globex", "acme"} {
		taken := 0
		for range 6 {
			err := b.DeliverBytes(ctx, "emails.send", tenant, []byte("{}"))
			var full *broker.BacklogFullError
			switch {
			case errors.As(err, &full):
				fmt.Printf("%s: refused at its cap of %d\n", tenant, full.Refused[0].Cap)
			case err == nil:
				taken++
			}
		}
		fmt.Println(tenant, "queued", taken)
	}
	// Output:
	// globex: refused at its cap of 3
	// globex: refused at its cap of 3
	// globex: refused at its cap of 3
	// globex queued 3
	// acme: refused at its cap of 5
	// acme queued 5
}
