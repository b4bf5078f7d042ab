package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is what a chaos run did and found.
type Result struct {
	Config Config
	// Delivered counts the messages whose delivery returned nil.
	Delivered int64
	// DeliveryRetries counts the batches the producer sent again after an
	// error (while redis-server was down).
	DeliveryRetries int64
	// KeylessDelivered and KeylessUncertain count the keyless producer's
	// messages whose call returned nil, and those whose call failed (they
	// may or may not have been queued).
	KeylessDelivered, KeylessUncertain int64
	// RepliesLost counts the script replies the proxy lost.
	RepliesLost int64
	// MemoryLimits counts the times redis-server ran at its memory limit.
	MemoryLimits int
	// Kills and RedisRestarts count what was done.
	Kills, RedisRestarts int
	// Handled counts the distinct messages the workers handled.
	Handled int64
	// Lost counts the messages delivered but never handled.
	Lost int64
	// Duplicates counts the handlings beyond the first of each message.
	Duplicates int64
	// AllowedDuplicates is the most duplicates at-least-once delivery
	// allows: the messages leased at each kill and restart.
	AllowedDuplicates int64
	// Dead and Stuck count the dead letters and the messages left ready,
	// leased or delayed at the end.
	Dead, Stuck int64
	// Invariants is the invariant checker's report, "" when they hold.
	Invariants string
	// Elapsed is how long the run took, from the first delivery to the
	// last worker's exit.
	Elapsed time.Duration
	// Failures lists the checks that failed.
	Failures []string
	// LogDir holds the workers' logs when the run failed or Config.Dir was
	// set.
	LogDir string
}

// OK reports whether every check passed.
func (r *Result) OK() bool { return len(r.Failures) == 0 }

func (r *Result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// TableHeader is the header of WriteTable's Markdown table.
const TableHeader = "| N | keyless (uncertain) | facets | workers × concurrency | worker kills | redis restarts | memory limits | replies lost | batches re-sent | handled | lost | duplicates | allowed duplicates | dead | left over | invariants | time | result |\n" +
	"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n"

// Row is the result as a row of TableHeader's table.
func (r *Result) Row() string {
	cfg := r.Config
	invariants, result := "hold", "PASS"
	if r.Invariants != "" {
		invariants = "broken"
	}
	if !r.OK() {
		result = "FAIL"
	}
	return fmt.Sprintf("| %d | %d (%d) | %d | %d × %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n",
		cfg.Messages, r.KeylessDelivered, r.KeylessUncertain, cfg.Facets, cfg.Workers, cfg.Concurrency, r.Kills, r.RedisRestarts,
		r.MemoryLimits, r.RepliesLost, r.DeliveryRetries,
		r.Handled, r.Lost, r.Duplicates, r.AllowedDuplicates, r.Dead, r.Stuck, invariants,
		r.Elapsed.Round(100*time.Millisecond), result)
}

// WriteTable writes the result as a Markdown table of one row, with the
// failures after it.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	b.WriteString(TableHeader)
	b.WriteString(r.Row())
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\nFAIL: %s", f)
	}
	if r.LogDir != "" {
		fmt.Fprintf(&b, "\nlogs: %s", r.LogDir)
	}
	if len(r.Failures) > 0 || r.LogDir != "" {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
