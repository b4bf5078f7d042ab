package worker

import (
	"testing"
	"time"
)

func TestRetriesDue(t *testing.T) {
	r := newRetriesDue()
	now := time.Now()
	if _, ok := r.next(now); ok {
		t.Fatal("an empty retriesDue has a retry pending")
	}
	r.add(now.Add(300 * time.Millisecond))
	select {
	case <-r.changed:
	default:
		t.Fatal("the first retry did not signal the fetcher")
	}
	r.add(now.Add(500 * time.Millisecond))
	select {
	case <-r.changed:
		t.Fatal("a later retry signaled the fetcher")
	default:
	}
	r.add(now.Add(100 * time.Millisecond))
	select {
	case <-r.changed:
	default:
		t.Fatal("a sooner retry did not signal the fetcher")
	}
	for _, tc := range []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 100 * time.Millisecond},
		{50 * time.Millisecond, 50 * time.Millisecond},
		{200 * time.Millisecond, 0}, // the 100ms one fell due: pull now
		{200 * time.Millisecond, 100 * time.Millisecond},
		{600 * time.Millisecond, 0},
	} {
		got, ok := r.next(now.Add(tc.at))
		if !ok || got != tc.want {
			t.Fatalf("next at +%v = %v, %v; want %v, true", tc.at, got, ok, tc.want)
		}
	}
	if _, ok := r.next(now.Add(time.Second)); ok {
		t.Fatal("retries still pending after every one fell due")
	}
	for i := range maxRetriesDue + 10 {
		r.add(now.Add(time.Duration(i) * time.Millisecond))
	}
	if len(r.due) != maxRetriesDue {
		t.Fatalf("kept %d retries, want the bound %d", len(r.due), maxRetriesDue)
	}
}
