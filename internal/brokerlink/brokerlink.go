// Package brokerlink hands Fairway's own packages the broker capabilities
// that are not part of the broker's public API. Package broker registers
// each capability in its init; a package that imports broker can call it.
//
// It holds one capability: adding to a queue's throughput history, which
// only the worker does (the dashboards read it with Broker.History).
package brokerlink

import (
	"context"
	"fmt"
	"time"
)

// addHistory is the function package broker registered, of the type
// func(context.Context, *broker.Broker, time.Time, map[string]broker.HistoryCounts) error.
var addHistory any

// RegisterAddHistory stores package broker's history writer. Package
// broker calls it from its init, before any other package can use it.
func RegisterAddHistory[B, C any](f func(ctx context.Context, b B, at time.Time, counts map[string]C) error) {
	addHistory = f
}

// AddHistory adds counts, by queue, to b's throughput history of the
// minute that holds at, in one round trip (one per Redis Cluster node).
// The minute is by the caller's clock.
func AddHistory[B, C any](ctx context.Context, b B, at time.Time, counts map[string]C) error {
	f, ok := addHistory.(func(context.Context, B, time.Time, map[string]C) error)
	if !ok {
		return fmt.Errorf("brokerlink: no history writer registered for %T and %T", b, counts)
	}
	return f(ctx, b, at, counts)
}
