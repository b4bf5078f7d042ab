package broker_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// envelopeOverhead is what an envelope adds to the body of a message with
// topic "t", facet "f", no headers and the default budget of 25: "2"
// "1:f" "25:" "1:t" "0:".
const envelopeOverhead = 12

// TestMessageSizeLimit checks the default limit of 1 MiB on the encoded
// message, exactly at the boundary, and that it can be raised: a message at
// the limit round-trips byte for byte; one byte more is refused with
// ErrMessageTooLarge, and a batch holding it delivers nothing.
func TestMessageSizeLimit(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		if got := b.Config().MaxMessageBytes; got != 1<<20 {
			t.Fatalf("default MaxMessageBytes %d, want 1 MiB", got)
		}
		atLimit := bytes.Repeat([]byte{0xff}, 1<<20-envelopeOverhead)
		over := append(bytes.Clone(atLimit), 0)
		err := b.DeliverBytes(ctx, "t", "f", over)
		if !errors.Is(err, broker.ErrMessageTooLarge) || !strings.Contains(err.Error(), "limit 1048576") {
			t.Fatalf("a message of 1 MiB + 1 byte: %v, want ErrMessageTooLarge naming the limit", err)
		}
		err = b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: "f", Body: []byte("small")}, {Topic: "t", Facet: "f", Body: over}})
		if !errors.Is(err, broker.ErrMessageTooLarge) {
			t.Fatalf("a batch with a message over the limit: %v", err)
		}
		big := map[string]any{"topic": "t", "facet": "f", "x": strings.Repeat("y", 1<<20)}
		if err := b.Deliver(ctx, big); !errors.Is(err, broker.ErrMessageTooLarge) {
			t.Fatalf("Deliver of a map over the limit: %v", err)
		}
		wantStats(t, b, "q", broker.QueueStats{Routed: true})

		deliver(t, b, "t", "f", string(atLimit))
		if m := pull(t, b, "q"); !bytes.Equal(m.Body, atLimit) {
			t.Fatalf("the message at the limit came back with %d bytes", len(m.Body))
		}

		raised := newBroker(t, rdb, broker.Config{Namespace: b.Namespace(), MaxMessageBytes: 4 << 20})
		deliver(t, raised, "t", "f", string(bytes.Repeat(over, 2)))
		if m := pull(t, raised, "q"); len(m.Body) != 2*len(over) {
			t.Fatalf("with a 4 MiB limit, a 2 MiB message came back with %d bytes", len(m.Body))
		}
	})
}

// nested returns a map nested depth levels deep under key "a", with a
// topic and facet at the top.
func nested(depth int) map[string]any {
	top := map[string]any{"topic": "t", "facet": "f"}
	cur := top
	for range depth - 1 {
		next := map[string]any{}
		cur["a"] = next
		cur = next
	}
	return top
}

// TestDeeplyNestedMessage delivers maps nested 10,000 and 100,000 levels
// deep. encoding/json encodes any depth (it has no limit, and Go stacks
// grow), so the broker delivers them as long as they fit MaxMessageBytes;
// its decoder refuses more than 10,000 levels, which worker.JSON turns into
// a dead letter (see the worker's tests). A message that contains itself is
// refused with ErrInvalidMessage, and one too deep to fit with
// ErrMessageTooLarge: never a stack overflow.
func TestDeeplyNestedMessage(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		for _, depth := range []int{10_000, 100_000} {
			if err := b.Deliver(ctx, nested(depth)); err != nil {
				t.Fatalf("Deliver of %d levels: %v", depth, err)
			}
			m := pull(t, b, "q")
			var v any
			err := json.Unmarshal(m.Body, &v)
			if tooDeep := err != nil && strings.Contains(err.Error(), "exceeded max depth"); tooDeep != (depth > 10_000) {
				t.Errorf("decoding %d levels: %v", depth, err)
			}
			ack(t, b, m)
		}
		if err := b.Deliver(ctx, nested(200_000)); !errors.Is(err, broker.ErrMessageTooLarge) {
			t.Errorf("Deliver of 200,000 levels (1.2 MB): %v, want ErrMessageTooLarge", err)
		}
		loop := map[string]any{"topic": "t"}
		loop["self"] = loop
		if err := b.Deliver(ctx, loop); !errors.Is(err, broker.ErrInvalidMessage) || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("Deliver of a map that contains itself: %v, want ErrInvalidMessage", err)
		}
		wantStats(t, b, "q", broker.QueueStats{Routed: true})
	})
}

// TestInvalidUTF8 checks every call that takes a facet, topic, pattern or
// idempotency key: bytes that are not UTF-8 are refused with the right
// sentinel and an error that shows them escaped. Bodies and header values
// are bytes and round-trip as they are.
func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	const bad = "ten\xffant"
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		sub := func(pattern string) error { _, err := b.Subscribe(ctx, pattern); return err }
		facet := func(f string) error { _, err := b.Facet(ctx, "q", f); return err }
		for name, tc := range map[string]struct {
			err  error
			want error
		}{
			"DeliverBytes facet":   {b.DeliverBytes(ctx, "t", bad, nil), broker.ErrInvalidFacet},
			"Deliver facet":        {b.Deliver(ctx, map[string]any{"topic": "t", "facet": bad}), broker.ErrInvalidFacet},
			"DeliverBatch facet":   {b.DeliverBatch(ctx, []broker.Delivery{{Topic: "t", Facet: bad}}), broker.ErrInvalidFacet},
			"DeliverBytes topic":   {b.DeliverBytes(ctx, bad, "f", nil), broker.ErrInvalidTopic},
			"Deliver type":         {b.Deliver(ctx, map[string]any{"type": bad}), broker.ErrInvalidTopic},
			"idempotency key":      {b.DeliverBytes(ctx, "t", "f", nil, broker.WithIdempotencyKey(bad, 0)), broker.ErrInvalidArgument},
			"SetFacetPriority":     {b.SetFacetPriority(ctx, "q", bad, 2), broker.ErrInvalidFacet},
			"Facet":                {facet(bad), broker.ErrInvalidFacet},
			"RegisterQueue":        {b.RegisterQueue(ctx, "q2", bad), broker.ErrInvalidPattern},
			"Subscribe":            {sub(bad), broker.ErrInvalidPattern},
			"facet of a lone byte": {b.DeliverBytes(ctx, "t", "\x80", nil), broker.ErrInvalidFacet},
			"truncated rune":       {b.DeliverBytes(ctx, "t", "\xe2\x82", nil), broker.ErrInvalidFacet},
			"surrogate half":       {b.DeliverBytes(ctx, "t", "\xed\xa0\x80", nil), broker.ErrInvalidFacet},
		} {
			if !errors.Is(tc.err, tc.want) || !strings.Contains(tc.err.Error(), "not valid UTF-8") {
				t.Errorf("%s: %v, want %v saying it is not UTF-8", name, tc.err, tc.want)
			}
		}
		wantStats(t, b, "q", broker.QueueStats{Routed: true})

		headers := map[string]string{"h": bad}
		deliver(t, b, "t", "f", bad, broker.WithHeaders(headers))
		if m := pull(t, b, "q"); string(m.Body) != bad || !maps.Equal(m.Headers, headers) {
			t.Fatalf("body %q headers %q, want %q", m.Body, m.Headers, bad)
		}
	})
}
