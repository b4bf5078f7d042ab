package scheduler_test

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // the example's time zone, wherever it runs

	"github.com/alicebob/miniredis/v2"
	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/scheduler"
	"github.com/redis/go-redis/v9"
)

// Deliver a report every night at 2:00 in Paris, and a heartbeat every
// second. Any number of processes may run the same schedules: each run is
// delivered once.
func Example() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer func() { _ = rdb.Close() }()
	b, err := broker.New(rdb, broker.Config{})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.RegisterQueue(ctx, "reports", `^report\.`); err != nil {
		panic(err)
	}

	s, err := scheduler.New(b, scheduler.Config{})
	if err != nil {
		panic(err)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	for _, sch := range []scheduler.Schedule{{
		Name:     "nightly-report",
		Spec:     scheduler.MustCron("0 2 * * *"),
		Location: paris,
		Topic:    "report.nightly",
		Body:     []byte(`{"kind":"usage"}`),
		// After an outage, deliver the last missed night's report once.
		CatchUp: scheduler.CatchUpLast,
	}, {
		Name:    "heartbeat",
		Spec:    scheduler.Every(time.Second),
		Topic:   "report.heartbeat",
		CatchUp: scheduler.CatchUpNone,
	}} {
		if err := s.Add(sch); err != nil {
			panic(err)
		}
	}
	go func() { _ = s.Run(ctx) }()

	// Wait for the first heartbeat.
	for {
		m, err := b.Pull(ctx, "reports")
		if err != nil {
			panic(err)
		}
		if m != nil {
			fmt.Println(m.Topic, "from schedule", m.Headers[scheduler.HeaderSchedule])
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	infos, err := s.Schedules(ctx)
	if err != nil {
		panic(err)
	}
	for _, i := range infos {
		fmt.Printf("%s: %q in %s, catch-up %s\n", i.Name, i.Spec, i.Location, i.CatchUp)
	}
	// Output:
	// report.heartbeat from schedule heartbeat
	// nightly-report: "0 2 * * *" in Europe/Paris, catch-up last
	// heartbeat: "@every 1s" in UTC, catch-up none
}
