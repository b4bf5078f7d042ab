package worker

import (
	"errors"
	"testing"

	"github.com/fairwayhq/fairway/broker"
)

// A batch may hold two runs of one message: a stale one whose lease was
// lost (released and pulled again meanwhile) and the current one. Only
// the stale run is told its lease was lost; the error names the message by
// the value given, not by its ID.
func TestAckResultIsPerMessageNotPerID(t *testing.T) {
	stale := &broker.Message{ID: "m1", Queue: "q"}
	current := &broker.Message{ID: "m1", Queue: "q"}
	other := &broker.Message{ID: "m2", Queue: "q"}
	err := errors.Join(&broker.LeaseLostError{Op: "ack", Message: stale})
	if got := ackResult(stale, err); !errors.Is(got, broker.ErrLeaseLost) {
		t.Errorf("stale run: %v, want its ErrLeaseLost", got)
	}
	for _, m := range []*broker.Message{current, other} {
		if got := ackResult(m, err); got != nil {
			t.Errorf("%s (%p): %v, want acked", m.ID, m, got)
		}
	}
	down := errors.Join(err, errors.New("connection refused"))
	if got := ackResult(current, down); !errors.Is(got, down) {
		t.Errorf("a batch that failed as a whole: %v, want its error", got)
	}
}
