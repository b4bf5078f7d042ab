// Package chaos breaks a running Fairway deployment on purpose and checks
// that no message is lost: it starts a redis-server with an append-only file
// synced on every write, several processes of the examples/worker binary and
// a producer, all on 127.0.0.1; delivers messages with unique idempotency
// keys across many facets; SIGKILLs workers at random and starts new ones;
// SIGKILLs redis-server once and restarts it on the same port and
// directory, so that it reloads its append-only file; and finally SIGTERMs
// every worker.
//
// The workers record each message they handle in a Redis hash
// (FAIRWAY_RECORD_KEY), which survives the restart. Run then checks that
// every delivered message was handled at least once; that the duplicates
// are at most the messages leased at each kill (measured from the queue's
// lease set just after it); that the broker's invariant checker finds every
// message in exactly one place; and that nothing is left ready, leased,
// delayed or dead.
//
// cmd/chaos runs it and prints a table; `make chaos` runs a long version,
// `make chaos-short` (in CI) a short one.
package chaos
