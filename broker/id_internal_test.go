package broker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMessageIDs(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_700_000_000_123)
	var s idSource
	const producer = 1<<idProducerBits - 1
	seen := map[string]bool{}
	prev := s.newID(producer, now.Add(-time.Millisecond))
	for range 1000 {
		id := s.newID(producer, now)
		if len(id) != 14 || seen[id] {
			t.Fatalf("ID %q: length %d, seen before %v", id, len(id), seen[id])
		}
		if id <= prev {
			t.Fatalf("ID %q does not sort after the one made before it, %q", id, prev)
		}
		seen[id], prev = true, id
		if got := idTime(id); !got.Equal(now) {
			t.Fatalf("idTime(%q) = %v, want %v", id, got, now)
		}
	}
	// Another producer's IDs of the same millisecond differ.
	var other idSource
	if id := other.newID(producer-1, now); seen[id] || idTime(id) != now {
		t.Fatalf("another producer's ID %q: seen %v, time %v", id, seen[id], idTime(id))
	}
	// Past 2^16 IDs in a millisecond, they count on into the next one.
	var busy idSource
	for range 1 << idSeqBits {
		busy.newID(0, now)
	}
	if id := busy.newID(0, now); idTime(id) != now.Add(time.Millisecond) {
		t.Fatalf("ID %q after 2^16 in one millisecond: time %v", id, idTime(id))
	}
	// A clock that goes back does not make an ID sort before the last one.
	if id := s.newID(producer, now.Add(-time.Hour)); id <= prev {
		t.Fatalf("ID %q after the clock went back sorts before %q", id, prev)
	}
	// IDs of the format before 0.2 still tell their time.
	if got := idTime("0Pg5lwNL0G8310K61lW9"); !got.Equal(time.UnixMilli(1_764_254_528_981)) {
		t.Errorf("idTime of an old ID = %v (%d)", got, got.UnixMilli())
	}
	for _, bad := range []string{"", "short", strings.Repeat("!", 20), strings.Repeat("!", 14), strings.Repeat("A", 21)} {
		if got := idTime(bad); !got.IsZero() {
			t.Errorf("idTime(%q) = %v, want the zero time", bad, got)
		}
	}
}

// TestProducerNumbers checks that brokers of one namespace take different
// producer numbers, once each, and so make different IDs in the same
// millisecond.
func TestProducerNumbers(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	ctx := t.Context()
	b1, err := New(rdb, Config{Namespace: "ids"})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := New(rdb, Config{Namespace: "ids"})
	if err != nil {
		t.Fatal(err)
	}
	p1, err1 := b1.producerNumber(ctx)
	p2, err2 := b2.producerNumber(ctx)
	again, err3 := b1.producerNumber(ctx)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if p1 == p2 || again != p1 {
		t.Fatalf("producer numbers %d and %d, then %d for the first broker", p1, p2, again)
	}
	now := time.Now()
	if id1, id2 := b1.ids.newID(p1, now), b2.ids.newID(p2, now); id1 == id2 {
		t.Fatalf("two brokers made the same ID %q", id1)
	}
}
