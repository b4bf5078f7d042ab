package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// This file writes foreign or corrupted values into a queue's keys, as a
// bug, an operator or another program might, and checks that the broker
// answers with errors rather than panics, that the bad message is
// dead-lettered, handed out or dropped, and that the rest of the queue goes
// on as if nothing happened.

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// qkey is the key of kind of queue, read or written directly.
func qkey(b *broker.Broker, queue, kind string) string {
	return b.Namespace() + ":{" + queue + "}:" + kind
}

// victimFate is what becomes of the corrupted message.
type victimFate int

const (
	fateDead    victimFate = iota // a dead letter, with a reason
	fateHandled                   // pulled (again) and acked
	fateGone                      // dropped: it had no body to deliver
)

func (f victimFate) String() string {
	return [...]string{"dead", "handled", "gone"}[f]
}

type corruption struct {
	name string
	// leased corrupts the victim while it is leased; its lease then
	// expires, so the next pulls must reclaim it.
	leased bool
	apply  func(ctx context.Context, rdb redis.UniversalClient, key func(string) string, id string) error
	fate   victimFate
	// reason is part of the dead letter's reason.
	reason string
	// limit is the queue's in-flight limit (0: none).
	limit int
	// lostFacet says the corruption hides which facet the message is
	// leased in: its in-flight count cannot be corrected, so the
	// invariants are not checked.
	lostFacet bool
}

func corruptions() []corruption {
	// hset writes value to the field prefix+ID of hash kind.
	hset := func(kind, value, prefix string) func(context.Context, redis.UniversalClient, func(string) string, string) error {
		return func(ctx context.Context, rdb redis.UniversalClient, key func(string) string, id string) error {
			return rdb.HSet(ctx, key(kind), prefix+id, value).Err()
		}
	}
	// lease makes the victim's lease its ID and then rest, at the same
	// deadline.
	lease := func(rest string) func(context.Context, redis.UniversalClient, func(string) string, string) error {
		return func(ctx context.Context, rdb redis.UniversalClient, key func(string) string, id string) error {
			return replaceLease(ctx, rdb, key("leased"), id, id+rest)
		}
	}
	hdel := func(kind string) func(context.Context, redis.UniversalClient, func(string) string, string) error {
		return func(ctx context.Context, rdb redis.UniversalClient, key func(string) string, id string) error {
			return rdb.HDel(ctx, key(kind), id).Err()
		}
	}
	return []corruption{
		{name: "foreign bytes as the envelope", apply: hset("msgs", "\x00\xffnot an envelope", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "JSON as the envelope", apply: hset("msgs", `{"facet":"v","body":1}`, ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "truncated envelope", apply: hset("msgs", "11:v1:t3:", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "empty envelope", apply: hset("msgs", "", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "envelope of no facet and no attempts", apply: hset("msgs", "20:00A0", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "envelope of no facet and no attempts while leased", leased: true, apply: hset("msgs", "20:00A0", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "envelope without attempts while leased", leased: true, apply: hset("msgs", "21:vx", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "no envelope", apply: hdel("msgs"), fate: fateGone},
		{name: "no envelope under an in-flight limit", limit: 1, apply: hdel("msgs"), fate: fateGone},
		{name: "non-numeric attempts", apply: hset("msgs", "many", "@"), fate: fateHandled},
		{name: "fractional attempts", apply: hset("msgs", "1.5", "@"), fate: fateHandled},
		{name: "huge attempts", apply: hset("msgs", "99999999999999999999999", "@"), fate: fateHandled},
		{name: "non-numeric attempts while leased", leased: true, apply: lease("|1-s|many|v"), fate: fateHandled},
		{name: "foreign envelope while leased", leased: true, apply: hset("msgs", "garbage", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "garbage lease", leased: true, apply: lease("|garbage"), fate: fateHandled},
		{name: "lease without a facet", leased: true, apply: lease("|7-s|1|"), fate: fateHandled},
		{name: "lease of another facet", leased: true, apply: lease("|1-s|1|nowhere"), fate: fateHandled},
		{name: "a bare ID as the lease (layout 1)", leased: true, apply: lease(""), fate: fateHandled},
		{name: "garbage lease and a foreign envelope", leased: true, apply: func(ctx context.Context, rdb redis.UniversalClient, key func(string) string, id string) error {
			return errors.Join(lease("|garbage")(ctx, rdb, key, id), rdb.HSet(ctx, key("msgs"), id, "garbage").Err())
		}, fate: fateDead, reason: "unreadable envelope", lostFacet: true},
		{name: "no body while leased", leased: true, apply: hdel("msgs"), fate: fateGone},
		// Deadlines (envelope version 3): a malformed one never stops the
		// queue; a readable past one expires a message that never started.
		{name: "deadline not a number", apply: hset("msgs", "31:v5:soon:1:t0:victim", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "negative deadline", apply: hset("msgs", "31:v5:-1:1:t0:victim", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "deadline too long", apply: hset("msgs", "31:v5:99999999999999999999:1:t0:victim", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "deadline of a facet past the end", apply: hset("msgs", "3999:v5:1:1:t0:victim", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "deadline of a facet length beyond any number", apply: hset("msgs", "3"+strings.Repeat("9", 400)+":v5:1:1:t0:victim", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "deadline without attempts", apply: hset("msgs", "31:v:1:1:t0:victim", ""), fate: fateDead, reason: "unreadable envelope"},
		{name: "deadline 0", apply: hset("msgs", "31:v5:0:1:t0:victim", ""), fate: fateHandled},
		{name: "past deadline", apply: hset("msgs", "31:v5:1:1:t0:victim", ""), fate: fateDead, reason: "expired"},
		{name: "past deadline under an in-flight limit", limit: 1, apply: hset("msgs", "31:v5:1:1:t0:victim", ""), fate: fateDead, reason: "expired"},
		{name: "past deadline while leased", leased: true, apply: hset("msgs", "31:v5:1:1:t0:victim", ""), fate: fateHandled},
		{name: "past deadline with attempts so far", apply: func(ctx context.Context, rdb redis.UniversalClient, key func(string) string, id string) error {
			return errors.Join(hset("msgs", "31:v5:1:1:t0:victim", "")(ctx, rdb, key, id), hset("msgs", "2", "@")(ctx, rdb, key, id))
		}, fate: fateHandled},
		{name: "past deadline with foreign attempts so far", apply: func(ctx context.Context, rdb redis.UniversalClient, key func(string) string, id string) error {
			return errors.Join(hset("msgs", "31:v5:1:1:t0:victim", "")(ctx, rdb, key, id), hset("msgs", "many", "@")(ctx, rdb, key, id))
		}, fate: fateHandled},
	}
}

// TestCorruptMessage corrupts one message of a queue, in the ready or the
// leased state, and drains the queue: every other message must be pulled
// exactly once, the victim must meet its fate, no call may fail, and the
// queue must keep its invariants.
func TestCorruptMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range corruptions() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
				testCorruptMessage(t, rdb, tc)
			})
		})
	}
}

func testCorruptMessage(t *testing.T, rdb redis.UniversalClient, tc corruption) {
	ctx := t.Context()
	b := newQueue(t, rdb, broker.Config{Logger: quietLogger})
	if tc.limit > 0 {
		if err := b.SetInflightLimit(ctx, "q", tc.limit); err != nil {
			t.Fatal(err)
		}
	}
	deliver(t, b, "t", "v", "victim")
	want := map[string]bool{}
	for _, f := range []string{"a", "v", "b"} {
		for i := range 4 {
			body := f + "-" + string(rune('0'+i))
			deliver(t, b, "t", f, body)
			want[body] = true
		}
	}
	var id string
	var deadline time.Time
	if tc.leased {
		ms, err := leaseN(ctx, b, "q", 1, 30*time.Millisecond)
		if err != nil || len(ms) != 1 || string(ms[0].Body) != "victim" {
			t.Fatalf("first pull: %v, %v; want the victim", ms, err)
		}
		id, deadline = ms[0].ID, ms[0].LeaseDeadline
	} else {
		var err error
		if id, err = rdb.LIndex(ctx, qkey(b, "q", "f:v"), 0).Result(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.apply(ctx, rdb, func(kind string) string { return qkey(b, "q", kind) }, id); err != nil {
		t.Fatal(err)
	}
	if tc.leased {
		waitRedisPast(t, rdb, deadline)
	}

	got := map[string]int{}
	victimPulls := 0
	for range 100 {
		ms, err := b.PullN(ctx, "q", 3)
		if err != nil {
			t.Fatalf("PullN after the corruption: %v", err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if m.ID == id {
				victimPulls++
			} else {
				got[string(m.Body)]++
			}
			if err := b.Ack(ctx, m); err != nil {
				t.Fatalf("Ack(%v): %v", m, err)
			}
		}
	}
	for body := range want {
		if got[body] != 1 {
			t.Errorf("message %q pulled %d times, want once", body, got[body])
		}
	}
	dead, err := b.DeadLetters(ctx, "q", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	fate := fateGone
	switch {
	case victimPulls > 0:
		fate = fateHandled
	case len(dead) == 1 && dead[0].ID == id:
		fate = fateDead
		if !strings.Contains(dead[0].Error, tc.reason) {
			t.Errorf("dead letter's reason %q, want it to say %q", dead[0].Error, tc.reason)
		}
	}
	if fate != tc.fate || victimPulls > 1 || len(dead) > 1 {
		t.Errorf("victim %s: %s (pulled %d times, dead letters %+v), want %s", id, fate, victimPulls, dead, tc.fate)
	}
	if !tc.lostFacet {
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	}
}

// TestCorruptLeaseSettle checks that Ack, Nack, Extend and Release of a
// message whose lease entry is garbage answer ErrLeaseLost, change nothing,
// and do not keep the other messages of a batch from being acked.
func TestCorruptLeaseSettle(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{Logger: quietLogger})
		deliverN(t, b, "f", 2)
		ms, err := b.PullN(ctx, "q", 2)
		if err != nil || len(ms) != 2 {
			t.Fatalf("PullN: %v, %v", ms, err)
		}
		bad, good := ms[0], ms[1]
		if err := replaceLease(ctx, rdb, qkey(b, "q", "leased"), bad.ID, bad.ID+"|garbage"); err != nil {
			t.Fatal(err)
		}
		calls := map[string]func() error{
			"Ack":     func() error { return b.Ack(ctx, bad) },
			"Nack":    func() error { return b.Nack(ctx, bad, 0) },
			"Extend":  func() error { return b.Extend(ctx, bad, time.Minute) },
			"Release": func() error { return b.Release(ctx, bad) },
			"Kill":    func() error { return b.Kill(ctx, bad, "x") },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, broker.ErrLeaseLost) {
				t.Errorf("%s of a message with a garbage lease: %v, want ErrLeaseLost", name, err)
			}
		}
		err = b.AckMany(ctx, []*broker.Message{bad, good})
		if !errors.Is(err, broker.ErrLeaseLost) || strings.Contains(err.Error(), good.ID) {
			t.Errorf("AckMany: %v, want ErrLeaseLost for %s only", err, bad.ID)
		}
		if n := hlen(t, b, "q", "msgs"); n != 1 {
			t.Errorf("%d bodies left, want 1: the good message acked, the bad one kept", n)
		}
	})
}

// wrongTypes replaces a key of the queue with a value of another type.
var wrongTypes = []string{
	"cfg", "ring", "tokens", "prio", "inflight", "backlog", "msgs",
	"leased", "delayed", "dead", "deaderr", "seq", "f:f",
}

// TestWrongKeyType replaces each key of a queue with one of a type the
// scripts do not expect: every call on that queue returns a clear error
// (never a panic), and another queue of the same namespace is untouched.
func TestWrongKeyType(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, kind := range wrongTypes {
			t.Run(kind, func(t *testing.T) {
				t.Parallel()
				testWrongKeyType(t, rdb, kind)
			})
		}
	})
}

func testWrongKeyType(t *testing.T, rdb redis.UniversalClient, kind string) {
	ctx := t.Context()
	b := newBroker(t, rdb, broker.Config{Logger: quietLogger, LeaseDuration: time.Minute})
	register(t, b, "q", "^t$")
	register(t, b, "other", "^o$")
	deliverN(t, b, "f", 3)
	m := pull(t, b, "q")
	key := qkey(b, "q", kind)
	// A set is a type no script uses.
	if err := errors.Join(rdb.Del(ctx, key).Err(), rdb.SAdd(ctx, key, "x").Err()); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Deliver": func() error { return b.DeliverBytes(ctx, "t", "f", []byte("x")) },
		"Pull":    func() error { _, err := b.PullN(ctx, "q", 5); return err },
		"Ack":     func() error { return b.Ack(ctx, m) },
		"Nack":    func() error { return b.Nack(ctx, m, time.Second) },
		"Extend":  func() error { return b.Extend(ctx, m, time.Second) },
		"Stats":   func() error { _, err := b.Stats(ctx, "q"); return err },
		"Dead":    func() error { _, err := b.DeadLetters(ctx, "q", 0, 5); return err },
	}
	failed := 0
	for name, call := range calls {
		err := call() // must not panic
		if err == nil {
			continue
		}
		failed++
		if !strings.HasPrefix(err.Error(), "broker: ") {
			t.Errorf("%s with %s of the wrong type: unclear error %q", name, kind, err)
		}
	}
	if failed == 0 {
		t.Errorf("no call noticed that %s is a set", kind)
	}
	// The other queue of the namespace works as before.
	deliver(t, b, "o", "g", "fine")
	if m := pull(t, b, "other"); m.Facet != "g" {
		t.Fatalf("other queue gave %v", m)
	}
}

// replaceLease puts member in place of the lease of message id in the
// leased zset at key, at its deadline.
func replaceLease(ctx context.Context, rdb redis.UniversalClient, key, id, member string) error {
	zs, err := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	if err != nil {
		return err
	}
	for _, z := range zs {
		if v, _ := z.Member.(string); strings.HasPrefix(v, id+"|") {
			return errors.Join(rdb.ZRem(ctx, key, v).Err(), rdb.ZAdd(ctx, key, redis.Z{Score: z.Score, Member: member}).Err())
		}
	}
	return fmt.Errorf("message %s holds no lease in %s", id, key)
}

// setLease replaces the lease of message id with member, or adds member
// when the message holds none.
func setLease(ctx context.Context, rdb redis.UniversalClient, b *broker.Broker, id, member string) error {
	key := qkey(b, "q", "leased")
	if err := replaceLease(ctx, rdb, key, id, member); err == nil {
		return nil
	}
	return rdb.ZAdd(ctx, key, redis.Z{Member: member}).Err()
}
