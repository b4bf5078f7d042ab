package testutil

import (
	"context"
	"testing"
	"time"
)

// TestStartSkewedServer checks that the server's TIME is off by the offset
// asked for, in both directions.
func TestStartSkewedServer(t *testing.T) {
	t.Parallel()
	for _, offset := range []time.Duration{-time.Hour, 10 * time.Minute} {
		s := StartSkewedServerT(t, offset)
		rdb := s.Client()
		defer func() { _ = rdb.Close() }()
		now, err := rdb.Time(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Until(now); got < offset-5*time.Second || got > offset+5*time.Second {
			t.Errorf("offset %v: Redis's clock is %v from ours", offset, got)
		}
	}
}
