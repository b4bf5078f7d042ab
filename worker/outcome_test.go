package worker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/worker"
)

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	base := errors.New("base")
	if err := worker.SkipRetry(base); !errors.Is(err, worker.ErrSkipRetry) || !errors.Is(err, base) {
		t.Fatalf("SkipRetry(base) = %v loses a cause", err)
	}
	var ra *worker.RetryAfterError
	if err := worker.RetryAfter(base, time.Minute); !errors.As(err, &ra) || ra.Delay != time.Minute || !errors.Is(err, base) {
		t.Fatalf("RetryAfter = %v", err)
	}
	pe := worker.NewPanicError(base)
	if !errors.Is(pe, base) || len(pe.Stack) == 0 {
		t.Fatalf("PanicError %v: no cause or stack", pe)
	}
}
