package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// keeper extends the leases of messages whose handlers run long, and cancels
// a handler's context when its lease is lost.
type keeper struct {
	b     *broker.Broker
	log   *slog.Logger
	lease time.Duration

	mu      sync.Mutex
	tracked map[*broker.Message]*leaseState
	quit    chan struct{}
	done    chan struct{}
	onTick  func() // a test hook
}

type leaseState struct {
	// lease is the keeper's own copy of the message, so that Extend never
	// writes to the one the handler reads.
	lease    *broker.Message
	cancel   context.CancelCauseFunc
	extended time.Time // when the lease was last taken or extended, locally
}

func newKeeper(b *broker.Broker, log *slog.Logger, lease time.Duration) *keeper {
	return &keeper{
		b: b, log: log, lease: lease,
		tracked: make(map[*broker.Message]*leaseState),
		quit:    make(chan struct{}), done: make(chan struct{}),
	}
}

func (k *keeper) track(m *broker.Message, cancel context.CancelCauseFunc) {
	k.mu.Lock()
	cp := *m
	k.tracked[m] = &leaseState{lease: &cp, cancel: cancel, extended: time.Now()}
	k.mu.Unlock()
}

func (k *keeper) untrack(m *broker.Message) {
	k.mu.Lock()
	delete(k.tracked, m)
	k.mu.Unlock()
}

func (k *keeper) stop() {
	close(k.quit)
	<-k.done
}

// run checks leases four times per lease period and extends those that have
// run for a third of it, so a lease is renewed well before it ends. A panic
// restarts the loop (see supervise) rather than stop lease keeping.
func (k *keeper) run() {
	defer close(k.done)
	supervise(context.Background(), k.log, "lease keeper", k.loop)
}

func (k *keeper) loop(context.Context) error {
	t := time.NewTicker(k.lease / 4)
	defer t.Stop()
	for {
		select {
		case <-k.quit:
			return nil
		case <-t.C:
			if k.onTick != nil {
				k.onTick()
			}
			k.extendDue()
		}
	}
}

func (k *keeper) extendDue() {
	now := time.Now()
	k.mu.Lock()
	due := make(map[*broker.Message]*broker.Message)
	for m, s := range k.tracked {
		if now.Sub(s.extended) >= k.lease/3 {
			due[m] = s.lease
		}
	}
	k.mu.Unlock()
	for m, lease := range due {
		k.extend(m, lease)
	}
}

func (k *keeper) extend(m, lease *broker.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), k.lease/4)
	err := k.b.Extend(ctx, lease, k.lease)
	cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.tracked[m]
	switch {
	case !ok: // the handler finished meanwhile
	case err == nil:
		s.extended = time.Now()
	case errors.Is(err, broker.ErrLeaseLost):
		s.cancel(broker.ErrLeaseLost)
		delete(k.tracked, m)
	default:
		k.log.Warn("fairway: could not extend a lease; will try again", "queue", m.Queue, "id", m.ID, "err", err)
	}
}
