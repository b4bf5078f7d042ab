package broker_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// The fuzz targets here run on miniredis, one per fuzzing process, emptied
// after each input. CI runs each briefly (make fuzz-short); their seed
// corpora are in testdata/fuzz.

// validQueueName is the documented rule for queue names.
var validQueueName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// validName is the documented rule for facets, topics, patterns and
// idempotency keys: non-empty UTF-8 of at most 1 KiB.
func validName(s string) bool {
	return s != "" && len(s) <= broker.MaxNameBytes && utf8.ValidString(s)
}

// fuzzBroker returns a broker on rdb with a fresh namespace.
func fuzzBroker(t *testing.T, rdb redis.UniversalClient) *broker.Broker {
	t.Helper()
	b, err := broker.New(rdb, broker.Config{Namespace: "fz", Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkBrokerError fails t unless err is nil or a clear broker error.
func checkBrokerError(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && !strings.HasPrefix(err.Error(), "broker: ") {
		t.Fatalf("%s: unclear error %q", what, err)
	}
}

// FuzzRegisterQueue checks ValidateQueueName and RegisterQueue against the
// documented rules for queue names and patterns, and that a registered
// queue receives exactly the topics its pattern matches.
func FuzzRegisterQueue(f *testing.F) {
	for _, s := range [][3]string{
		{"emails", `^email\.`, "email.welcome"},
		{"a.b-c_9", ".", "t"},
		{"a b", ".", "t"},
		{"q", "a(b", "t"},
		{"q", "", "t"},
		{"ü", ".", "t"},
		{strings.Repeat("q", 129), ".", "t"},
		{"q", `"]] redis.call('FLUSHALL') --`, `"]] redis.call('FLUSHALL') --`},
		{"q", "\xff", "t"},
		{"q", `^\p{Greek}+$`, "αβγ"},
		{"{q}", ".", "t"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	mr, rdb := testutil.MiniRedis(f)
	f.Fuzz(func(t *testing.T, queue, pattern, topic string) {
		defer mr.FlushAll()
		ctx := context.Background()
		b := fuzzBroker(t, rdb)
		nameOK := validQueueName.MatchString(queue)
		if err := broker.ValidateQueueName(queue); (err == nil) != nameOK || err != nil && !errors.Is(err, broker.ErrInvalidQueueName) {
			t.Fatalf("ValidateQueueName(%q) = %v, want valid %v", queue, err, nameOK)
		}
		re, reErr := regexp.Compile(pattern)
		patternOK := validName(pattern) && reErr == nil
		err := b.RegisterQueue(ctx, queue, pattern)
		switch {
		case !nameOK:
			if !errors.Is(err, broker.ErrInvalidQueueName) {
				t.Fatalf("RegisterQueue(%q, %q) = %v, want ErrInvalidQueueName", queue, pattern, err)
			}
			return
		case !patternOK:
			if !errors.Is(err, broker.ErrInvalidPattern) {
				t.Fatalf("RegisterQueue(%q, %q) = %v, want ErrInvalidPattern", queue, pattern, err)
			}
			return
		case err != nil:
			t.Fatalf("RegisterQueue(%q, %q): %v", queue, pattern, err)
		}
		if qs, err := b.Queues(ctx); err != nil || len(qs) != 1 || qs[queue] != pattern {
			t.Fatalf("Queues() = %v, %v; want only %q: %q", qs, err, queue, pattern)
		}
		if !validName(topic) {
			return
		}
		if err := b.DeliverBytes(ctx, topic, "f", []byte("x")); err != nil {
			t.Fatalf("DeliverBytes(%q): %v", topic, err)
		}
		m, err := b.Pull(ctx, queue)
		if err != nil {
			t.Fatal(err)
		}
		if routed := m != nil; routed != re.MatchString(topic) {
			t.Fatalf("topic %q reached queue of pattern %q: %v; the regexp matches: %v", topic, pattern, routed, !routed)
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), queue)
	})
}

// FuzzDeliver checks that DeliverBytes accepts exactly the topics, facets
// and idempotency keys the documented rules allow, refusing the others with
// the right sentinel and writing nothing, and that what it accepts comes
// back from Pull byte for byte, once per idempotency key.
func FuzzDeliver(f *testing.F) {
	for _, s := range [][3]string{
		{"orders.created", "acme", ""},
		{"t", "f", "key-1"},
		{"", "f", ""},
		{"t", "", ""},
		{"t", "a\xffb", ""},
		{"\xc3(", "f", ""},
		{"t", "f", "\xff"},
		{"*", "{q}:f:x", "%s"},
		{"t\nline", "]] redis.call('FLUSHALL') --", "'); redis.call('DEL', KEYS[1]) --"},
		{"t", strings.Repeat("x", 1025), ""},
	} {
		f.Add(s[0], s[1], s[2], []byte("body"))
	}
	mr, rdb := testutil.MiniRedis(f)
	f.Fuzz(func(t *testing.T, topic, facet, key string, body []byte) {
		defer mr.FlushAll()
		ctx := context.Background()
		b := fuzzBroker(t, rdb)
		register(t, b, "q", "^")
		var opts []broker.DeliverOption
		if key != "" {
			opts = append(opts, broker.WithIdempotencyKey(key, 0))
		}
		err := b.DeliverBytes(ctx, topic, facet, body, opts...)
		var want error
		switch {
		case !validName(topic):
			want = broker.ErrInvalidTopic
		case !validName(facet):
			want = broker.ErrInvalidFacet
		case key != "" && !validName(key):
			want = broker.ErrInvalidArgument
		}
		if want != nil {
			if !errors.Is(err, want) {
				t.Fatalf("DeliverBytes(%q, %q, key %q) = %v, want %v", topic, facet, key, err, want)
			}
			if st := stats(t, b, "q"); st.Ready != 0 {
				t.Fatalf("a refused delivery was queued: %+v", st)
			}
			return
		}
		if err != nil {
			t.Fatalf("DeliverBytes(%q, %q, key %q): %v", topic, facet, key, err)
		}
		// A second delivery with the same key queues nothing.
		if err := b.DeliverBytes(ctx, topic, facet, body, opts...); err != nil {
			t.Fatal(err)
		}
		want1 := 2
		if key != "" {
			want1 = 1
		}
		ms, err := b.PullN(ctx, "q", 3)
		if err != nil || len(ms) != want1 {
			t.Fatalf("PullN: %d messages, %v; want %d", len(ms), err, want1)
		}
		for _, m := range ms {
			if m.Topic != topic || m.Facet != facet || !bytes.Equal(m.Body, body) {
				t.Fatalf("pulled topic %q facet %q body %q; delivered %q %q %q", m.Topic, m.Facet, m.Body, topic, facet, body)
			}
		}
		if fs, err := b.Facet(ctx, "q", facet); err != nil || fs.InFlight != int64(want1) {
			t.Fatalf("Facet(%q) = %+v, %v", facet, fs, err)
		}
		if err := b.AckMany(ctx, ms); err != nil {
			t.Fatal(err)
		}
		testutil.RequireQueueInvariants(t, rdb, b.Namespace(), "q")
	})
}

// corruptKinds are the values FuzzCorruptValue overwrites. The first group
// belongs to one message (the victim); the second to its facet "v"; the
// third adds foreign members to the queue's lists and sorted sets.
var corruptKinds = []string{
	"msgs", "attempts", "lease",
	"tokens", "inflight", "prio",
	"leased", "delayed", "ring", "facet", "dead",
}

// FuzzCorruptValue writes a fuzzed value into a queue's keys (see
// corruptKinds), with the victim message ready or leased, and then drains
// the queue. No call may panic or return anything but a broker error; the
// messages of the other facets must each be pulled exactly once; another
// queue of the namespace must not notice; and when the value belongs to the
// victim, no call may fail at all.
func FuzzCorruptValue(f *testing.F) {
	for i := range corruptKinds {
		for _, v := range []string{"", "garbage", "-1", "1.5", "99999999999999999999", "7|", "1|v", "|", "11:v1:t0:", "\x00\xff",
			"31:v1:1:1:t0:", "31:v1:x:1:t0:", "3999:v"} {
			f.Add(uint8(i), v, i%2 == 0)
		}
	}
	mr, rdb := testutil.MiniRedis(f)
	f.Fuzz(func(t *testing.T, kind uint8, value string, leased bool) {
		defer mr.FlushAll()
		now := time.Now()
		mr.SetTime(now)
		b := fuzzBroker(t, rdb)
		register(t, b, "q", "^t$")
		register(t, b, "other", "^o$")
		k := corruptKinds[int(kind)%len(corruptKinds)]
		victim := corruptVictim(t, b, leased)
		if err := corrupt(context.Background(), rdb, b, k, value, victim); err != nil {
			t.Fatal(err)
		}
		if leased {
			mr.SetTime(now.Add(2 * time.Second)) // the victim's lease has expired
		}
		got, errs := drainCorrupt(t, b, victim)
		for _, f := range []string{"a", "b"} {
			for i := range 3 {
				if body := f + string(rune('0'+i)); got[body] != 1 {
					t.Errorf("%s = %q: message %q pulled %d times, want once", k, value, body, got[body])
				}
			}
		}
		if errs > 0 && (k == "msgs" || k == "attempts" || k == "lease") {
			t.Errorf("%s = %q: %d pulls failed; a bad message must not stop its queue", k, value, errs)
		}
		deliver(t, b, "o", "g", "fine")
		if m := pull(t, b, "other"); string(m.Body) != "fine" {
			t.Fatalf("the other queue gave %v", m)
		}
	})
}

// corruptVictim delivers the victim to facet "v", then 3 messages to each
// of facets "a", "v" and "b", and returns the victim's ID, leased for a
// second when leased is set.
func corruptVictim(t *testing.T, b *broker.Broker, leased bool) string {
	t.Helper()
	deliver(t, b, "t", "v", "victim")
	for _, f := range []string{"a", "v", "b"} {
		for i := range 3 {
			deliver(t, b, "t", f, f+string(rune('0'+i)))
		}
	}
	if leased {
		ms, err := leaseN(context.Background(), b, "q", 1, time.Second)
		if err != nil || len(ms) != 1 || string(ms[0].Body) != "victim" {
			t.Fatalf("first pull: %v, %v; want the victim", ms, err)
		}
		return ms[0].ID
	}
	id, err := b.Client().LIndex(context.Background(), qkey(b, "q", "f:v"), 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func corrupt(ctx context.Context, rdb redis.UniversalClient, b *broker.Broker, kind, value, victim string) error {
	key := qkey(b, "q", kind)
	switch kind {
	case "msgs":
		return rdb.HSet(ctx, key, victim, value).Err()
	case "attempts":
		return rdb.HSet(ctx, qkey(b, "q", "msgs"), "@"+victim, value).Err()
	case "lease":
		// What follows the ID in the victim's lease, or a lease of its own
		// beside its place when it is not leased.
		return setLease(ctx, rdb, b, victim, victim+"|"+value)
	case "tokens", "inflight", "prio":
		return rdb.HSet(ctx, key, "v", value).Err()
	case "leased", "delayed", "dead":
		return rdb.ZAdd(ctx, key, redis.Z{Member: value}).Err()
	case "ring":
		return rdb.RPush(ctx, key, value).Err()
	case "facet":
		return rdb.RPush(ctx, qkey(b, "q", "f:v"), value).Err()
	}
	return errors.New("unknown kind " + kind)
}

// drainCorrupt pulls and acks until the queue has nothing ready, and
// returns how often each message but the victim was pulled, and how many
// pulls failed.
func drainCorrupt(t *testing.T, b *broker.Broker, victim string) (map[string]int, int) {
	t.Helper()
	ctx := context.Background()
	got := map[string]int{}
	errs := 0
	for range 40 {
		ms, err := b.PullN(ctx, "q", 4)
		checkBrokerError(t, "PullN", err)
		if err != nil {
			errs++
			continue
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if m.ID != victim {
				got[string(m.Body)]++
			}
			checkBrokerError(t, "Ack", b.Ack(ctx, m))
		}
	}
	return got, errs
}
