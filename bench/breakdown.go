package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/redis/go-redis/v9"
)

// The breakdown (-breakdown) shows where Redis spends its time in each
// operation. For breakdownMessages messages it reports the operation's
// rate, Redis's CPU time and time in scripts per message, and the commands
// Redis ran per message with the time they took (INFO commandstats: a
// call a script makes is counted under its own name, and its time is also
// part of the script's). BENCHMARKS.md's analysis of the missed targets
// rests on it.

const breakdownMessages = 50_000

// breakdownOp is one operation to break down. prepare sets it up untimed
// and returns the timed part, run, and the untimed cleanup, after.
type breakdownOp struct {
	name    string
	prepare func(ctx context.Context, e *env) (run, after func(ctx context.Context) error, err error)
}

func breakdownOps() []breakdownOp {
	deliver := func(size, goroutines int) breakdownOp {
		return breakdownOp{
			name: fmt.Sprintf("Fairway DeliverBatch(%d), %s", size, goroutinesText(goroutines)),
			prepare: func(ctx context.Context, e *env) (run, after func(context.Context) error, err error) {
				f, err := newFairway(ctx, e, "breakdown")
				if err != nil {
					return nil, nil, err
				}
				batch := make([]broker.Delivery, size)
				for i := range batch {
					batch[i] = broker.Delivery{Topic: f.queue, Facet: facetNames[i%benchFacets], Body: body100}
				}
				run = func(ctx context.Context) error {
					_, err := parallel(ctx, breakdownMessages/size, goroutines, func(ctx context.Context, _ int) error {
						return f.b.DeliverBatch(ctx, batch)
					})
					return err
				}
				return run, func(context.Context) error { f.close(); return nil }, nil
			},
		}
	}
	enqueue := func(goroutines int) breakdownOp {
		return breakdownOp{
			name: fmt.Sprintf("asynq Enqueue, %s", goroutinesText(goroutines)),
			prepare: func(_ context.Context, e *env) (run, after func(context.Context) error, err error) {
				a := newAsynq(e, "breakdown", goroutines)
				run = func(ctx context.Context) error {
					_, err := a.enqueueAll(ctx, breakdownMessages, goroutines, func(int) []byte { return body100 })
					return err
				}
				return run, func(context.Context) error { a.close(); return nil }, nil
			},
		}
	}
	// pullAck delivers breakdownMessages, pulls them all n at a time, then
	// acks them n at a time; either the pulls or the acks are timed.
	pullAck := func(n int, timeAcks bool) breakdownOp {
		name := fmt.Sprintf("Fairway PullN(%d), 1 goroutine", n)
		if timeAcks {
			name = fmt.Sprintf("Fairway AckMany(%d), 1 goroutine", n)
		}
		return breakdownOp{
			name: name,
			prepare: func(ctx context.Context, e *env) (run, after func(context.Context) error, err error) {
				f, err := newFairway(ctx, e, "breakdown")
				if err != nil {
					return nil, nil, err
				}
				if _, err := deliverAll(ctx, f.b, f.queue, breakdownMessages); err != nil {
					f.close()
					return nil, nil, err
				}
				var all [][]*broker.Message
				pull := func(ctx context.Context) error {
					for range breakdownMessages / n {
						ms, err := f.b.PullN(ctx, f.queue, n)
						if err != nil {
							return err
						}
						if len(ms) != n {
							return fmt.Errorf("pulled %d messages, want %d", len(ms), n)
						}
						all = append(all, ms)
					}
					return nil
				}
				ack := func(ctx context.Context) error {
					for _, ms := range all {
						if err := f.b.AckMany(ctx, ms); err != nil {
							return err
						}
					}
					return nil
				}
				if !timeAcks {
					return pull, func(ctx context.Context) error { defer f.close(); return ack(ctx) }, nil
				}
				if err := pull(ctx); err != nil {
					f.close()
					return nil, nil, err
				}
				return ack, func(context.Context) error { f.close(); return nil }, nil
			},
		}
	}
	return []breakdownOp{
		deliver(1, 1), deliver(1, enqueueGoroutines), deliver(enqueueBatchSize, 1), deliver(e2eBatch, 1),
		enqueue(1), enqueue(enqueueGoroutines),
		pullAck(1, false), pullAck(e2eConcurrency, false),
		pullAck(1, true), pullAck(e2eConcurrency, true),
	}
}

// runBreakdown runs every operation on an emptied server (FLUSHALL) and
// prints the table.
func runBreakdown(ctx context.Context, e *env, w io.Writer) error {
	rdb := e.srv.client()
	defer func() { _ = rdb.Close() }()
	rows := [][]string{{"operation", "msgs/s", "Redis CPU µs/msg", "in scripts µs/msg", "commands/msg", "commands: per message, count and µs"}}
	for _, op := range breakdownOps() {
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			return err
		}
		e.printf("%s...\n", op.name)
		row, err := breakDown(ctx, rdb, op, e)
		if err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		rows = append(rows, row)
	}
	_, err := io.WriteString(w, markdownTable(rows))
	return err
}

func breakDown(ctx context.Context, rdb *redis.Client, op breakdownOp, e *env) ([]string, error) {
	run, after, err := op.prepare(ctx, e)
	if err != nil {
		return nil, err
	}
	cpu0, err := takeCPU(ctx, rdb)
	if err != nil {
		return nil, err
	}
	calls0, usec0, err := commandTimes(ctx, rdb)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = run(ctx)
	took := time.Since(start)
	if err != nil {
		return nil, err
	}
	cpu1, err := takeCPU(ctx, rdb)
	if err != nil {
		return nil, err
	}
	calls1, usec1, err := commandTimes(ctx, rdb)
	if err != nil {
		return nil, err
	}
	if err := after(ctx); err != nil {
		return nil, err
	}
	n := float64(breakdownMessages)
	dc, du := diff(calls1, calls0), diff(usec1, usec0)
	delete(dc, "info")
	names := slices.SortedFunc(maps.Keys(dc), func(a, b string) int { return cmp.Or(cmp.Compare(du[b], du[a]), cmp.Compare(a, b)) })
	var parts []string
	for _, name := range names {
		if float64(dc[name])/n < 0.005 {
			continue // set-up and per-call commands of large batches
		}
		parts = append(parts, fmt.Sprintf("%s %s× %s", name, human(float64(dc[name])/n), human(float64(du[name])/n)))
	}
	return []string{
		op.name, human(n / took.Seconds()),
		human(float64((cpu1.redis - cpu0.redis).Microseconds()) / n),
		human(float64(du["eval"]+du["evalsha"]) / n),
		human(float64(total(dc)) / n),
		strings.Join(parts, ", "),
	}, nil
}

func goroutinesText(n int) string {
	if n == 1 {
		return "1 goroutine"
	}
	return fmt.Sprintf("%d goroutines", n)
}
