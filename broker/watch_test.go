package broker_test

import (
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// A watch signals once its subscription is back after the server went
// away (a restart here; a failover alike): the wake-ups published
// meanwhile are lost, so a waiter must pull again.
func TestWatchSignalsAfterReconnect(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t)
	rdb := srv.Client()
	defer func() { _ = rdb.Close() }()
	b := newQueue(t, rdb, broker.Config{})
	w, err := b.Watch(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	select {
	case <-w.C():
		t.Fatal("a signal before anything happened")
	case <-time.After(100 * time.Millisecond):
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C():
	case <-time.After(30 * time.Second):
		t.Fatal("no signal after the subscription came back")
	}
}
