package broker_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func checkInvariants(t *testing.T, b *broker.Broker, queue string) {
	t.Helper()
	testutil.RequireQueueInvariants(t, b.Client(), b.Namespace(), queue)
}

func TestPauseQueue(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		deliver(t, b, "t", "a", "1")
		if err := b.PauseQueue(t.Context(), "q"); err != nil {
			t.Fatal(err)
		}
		pullNone(t, b, "q")
		deliver(t, b, "t", "a", "2") // deliveries still queue
		if s := stats(t, b, "q"); !s.Paused || s.Ready != 2 {
			t.Fatalf("stats of a paused queue %+v, want Paused and 2 ready", s)
		}
		checkInvariants(t, b, "q")

		w, err := b.Watch(t.Context(), "q")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = w.Close() }()
		if err := b.ResumeQueue(t.Context(), "q"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.C():
		case <-time.After(waitTimeout):
			t.Fatal("resuming did not wake the queue's watchers")
		}
		if s := stats(t, b, "q"); s.Paused {
			t.Fatal("still paused after ResumeQueue")
		}
		if got := drain(t, b, "q"); !slices.Equal(got, []string{"a:1", "a:2"}) {
			t.Fatalf("after resume pulled %v", got)
		}
		checkInvariants(t, b, "q")
	})
}

func TestPauseFacet(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		ctx := t.Context()
		for _, body := range []string{"1", "2", "3", "4"} {
			deliver(t, b, "t", "a", body)
		}
		deliver(t, b, "t", "b", "1")
		deliver(t, b, "t", "b", "2")
		if err := b.SetFacetPriority(ctx, "q", "a", 2); err != nil {
			t.Fatal(err)
		}
		if err := b.PauseFacet(ctx, "q", "a"); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, "q")
		if fs, err := b.Facet(ctx, "q", "a"); err != nil || !fs.Paused || fs.Priority != 2 || fs.Ready != 4 {
			t.Fatalf("paused facet = %+v, %v; want paused, priority 2, 4 ready", fs, err)
		}
		if got := drain(t, b, "q"); !slices.Equal(got, []string{"b:1", "b:2"}) {
			t.Fatalf("with a paused pulled %v, want only b's", got)
		}
		// A priority set while paused is kept for the resume.
		if err := b.SetFacetPriority(ctx, "q", "a", 3); err != nil {
			t.Fatal(err)
		}
		pullNone(t, b, "q")
		deliver(t, b, "t", "b", "3")
		deliver(t, b, "t", "b", "4")
		if err := b.ResumeFacet(ctx, "q", "a"); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, b, "q")
		if fs, _ := b.Facet(ctx, "q", "a"); fs.Paused || fs.Priority != 3 {
			t.Fatalf("resumed facet = %+v, want not paused, priority 3", fs)
		}
		// b's turn was first in the ring; a takes three turns to b's one.
		want := []string{"b", "a", "a", "a", "b", "a"}
		if got := facets(drain(t, b, "q")); !slices.Equal(got, want) {
			t.Fatalf("after resume pulled facets %v, want %v", got, want)
		}
		checkInvariants(t, b, "q")
	})
}

func TestPauseIsIdempotentAndValidated(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		b := newQueue(t, rdb, broker.Config{})
		ctx := t.Context()
		deliver(t, b, "t", "a", "1")
		for range 2 {
			if err := b.PauseFacet(ctx, "q", "a"); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if err := b.ResumeFacet(ctx, "q", "a"); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.ResumeQueue(ctx, "q"); err != nil { // not paused: nothing to do
			t.Fatal(err)
		}
		if got := drain(t, b, "q"); !slices.Equal(got, []string{"a:1"}) {
			t.Fatalf("pulled %v", got)
		}
		for name, err := range map[string]error{
			"unknown queue":        b.PauseQueue(ctx, "nope"),
			"bad queue":            b.PauseQueue(ctx, "a b"),
			"empty facet":          b.PauseFacet(ctx, "q", ""),
			"unknown queue, facet": b.ResumeFacet(ctx, "nope", "a"),
		} {
			want := map[string]error{
				"unknown queue": broker.ErrUnknownQueue, "bad queue": broker.ErrInvalidQueueName,
				"empty facet": broker.ErrInvalidFacet, "unknown queue, facet": broker.ErrUnknownQueue,
			}[name]
			if !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", name, err, want)
			}
		}
	})
}
