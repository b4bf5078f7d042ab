package broker_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func TestPeekMatchesPulls(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, b *broker.Broker)
		want  string // facets of the peeked messages, in order
	}{
		{"worked example", func(t *testing.T, b *broker.Broker) {
			deliverN(t, b, "1", 5)
			deliverN(t, b, "2", 3)
			setPriority(t, b, "1", 2)
		}, "1 2 1 1 2 1 1 2"},
		{"paused facet", func(t *testing.T, b *broker.Broker) {
			deliverN(t, b, "a", 2)
			deliverN(t, b, "b", 2)
			if err := b.PauseFacet(t.Context(), "q", "a"); err != nil {
				t.Fatal(err)
			}
		}, "b b"},
		{"in-flight limit", func(t *testing.T, b *broker.Broker) {
			deliverN(t, b, "a", 3)
			deliverN(t, b, "b", 1)
			if err := b.SetInflightLimit(t.Context(), "q", 2); err != nil {
				t.Fatal(err)
			}
		}, "a b a"},
		{"facets' own in-flight limits", func(t *testing.T, b *broker.Broker) {
			deliverN(t, b, "a", 3)
			deliverN(t, b, "b", 3)
			deliverN(t, b, "c", 3)
			if err := b.SetInflightLimit(t.Context(), "q", 1); err != nil {
				t.Fatal(err)
			}
			if err := b.SetFacetInflightLimit(t.Context(), "q", "b", 2); err != nil {
				t.Fatal(err)
			}
			if err := b.SetFacetInflightLimit(t.Context(), "q", "c", 0); err != nil {
				t.Fatal(err)
			}
		}, "a b c b c c"},
		{"strict order", func(t *testing.T, b *broker.Broker) {
			deliverN(t, b, "a", 3)
			deliverN(t, b, "b", 2)
			if err := b.SetStrictOrder(t.Context(), "q", true); err != nil {
				t.Fatal(err)
			}
		}, "a b"},
		{"empty", func(*testing.T, *broker.Broker) {}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
				b := newQueue(t, rdb, broker.Config{})
				tc.setup(t, b)
				peeked, err := b.Peek(t.Context(), "q", 20)
				if err != nil {
					t.Fatalf("Peek: %v", err)
				}
				if got := facetsOf(peeked); got != tc.want {
					t.Fatalf("Peek facets = %q, want %q", got, tc.want)
				}
				again, _ := b.Peek(t.Context(), "q", 20)
				if facetsOf(again) != tc.want {
					t.Fatalf("a second Peek differs: %q", facetsOf(again))
				}
				pulled, err := b.PullN(t.Context(), "q", 20)
				if err != nil {
					t.Fatalf("PullN: %v", err)
				}
				if !slices.Equal(idsOf(peeked), idsOf(pulled)) {
					t.Fatalf("peeked %v, pulled %v", idsOf(peeked), idsOf(pulled))
				}
				for i, m := range peeked {
					if m.Attempt != pulled[i].Attempt || string(m.Body) != string(pulled[i].Body) || m.Topic != pulled[i].Topic {
						t.Errorf("peeked %+v, pulled %+v", m, pulled[i])
					}
				}
			})
		})
	}
}

func TestPeekCount(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliverN(t, b, "a", 5)
		got, err := b.Peek(t.Context(), "q", 2)
		if err != nil || len(got) != 2 {
			t.Fatalf("Peek(2) = %d messages, %v", len(got), err)
		}
		for _, n := range []int{0, broker.MaxPeek + 1} {
			if _, err := b.Peek(t.Context(), "q", n); !errors.Is(err, broker.ErrInvalidArgument) {
				t.Errorf("Peek(%d): %v, want ErrInvalidArgument", n, err)
			}
		}
		if _, err := b.Peek(t.Context(), "nope", 1); !errors.Is(err, broker.ErrUnknownQueue) {
			t.Errorf("Peek unknown queue: %v, want ErrUnknownQueue", err)
		}
		if _, err := b.Peek(t.Context(), "a b", 1); !errors.Is(err, broker.ErrInvalidQueueName) {
			t.Errorf("Peek bad name: %v, want ErrInvalidQueueName", err)
		}
	})
}

func facetsOf(ms []*broker.Message) string {
	var out []byte
	for i, m := range ms {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, m.Facet...)
	}
	return string(out)
}

func idsOf(ms []*broker.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
