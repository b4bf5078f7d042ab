package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// goStack is a stack as runtime/debug.Stack prints one, of n frames.
func goStack(n int) string {
	var sb strings.Builder
	sb.WriteString("goroutine 7 [running]:\n")
	for i := range n {
		fmt.Fprintf(&sb, "example.com/app.handler%d(0x%x, 0xc000123456)\n\t/src/app/handler.go:%d +0x%x\n", i, i, 10+i, i*3)
	}
	return sb.String()
}

// A stack given with WithStack to the Nack or Kill that makes a message a
// dead letter is listed with it, beside the reason; a long one is cut after
// a whole frame within MaxStackBytes, and says so.
func TestDeadLetterStack(t *testing.T) {
	t.Parallel()
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		b := newQueue(t, rdb, broker.Config{})
		long := goStack(400)
		for _, f := range []string{"killed", "nacked", "plain", "nul", "long"} {
			deliver(t, b, "t", f, f)
		}
		stack := goStack(3)
		for range 5 {
			m := pull(t, b, "q")
			var err error
			switch m.Facet {
			case "killed":
				err = b.Kill(ctx, m, "handler panicked: boom", broker.WithStack(stack))
			case "nacked":
				m.MaxAttempts = 1 // its last attempt
				err = b.Nack(ctx, m, 0, broker.WithReason(errors.New("handler panicked: bang")), broker.WithStack(stack))
			case "plain":
				err = b.Kill(ctx, m, "gave up")
			case "nul": // looks like a kept stack: kept as it is
				err = b.Kill(ctx, m, "\x00s3:a\x00b")
			case "long":
				err = b.Kill(ctx, m, "deep", broker.WithStack(long))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		ds, err := b.DeadLetters(ctx, "q", 0, 10)
		if err != nil || len(ds) != 5 {
			t.Fatalf("DeadLetters = %d, %v; want 5", len(ds), err)
		}
		got := make(map[string]broker.DeadLetter)
		for _, d := range ds {
			got[d.Facet] = d
		}
		for facet, want := range map[string][2]string{
			"killed": {"handler panicked: boom", stack},
			"nacked": {"handler panicked: bang", stack},
			"plain":  {"gave up", ""},
			"nul":    {"\x00s3:a\x00b", ""},
		} {
			if d := got[facet]; d.Error != want[0] || d.Stack != want[1] {
				t.Errorf("%s: error %q, stack %q; want %q, %q", facet, d.Error, d.Stack, want[0], want[1])
			}
		}
		d := got["long"]
		kept, marker, ok := strings.Cut(d.Stack, "...\n(stack trimmed: ")
		switch {
		case d.Error != "deep" || !ok || len(d.Stack) > broker.MaxStackBytes:
			t.Errorf("long stack: error %q, %d bytes, marked %v; want at most %d, marked", d.Error, len(d.Stack), ok, broker.MaxStackBytes)
		case !strings.HasPrefix(long, kept) || !strings.HasSuffix(kept, "\n") || len(kept) < broker.MaxStackBytes/2:
			t.Errorf("long stack keeps %d bytes, not its first whole lines", len(kept))
		case strings.HasPrefix(long[len(kept):], "\t"):
			t.Errorf("long stack is cut inside a frame: %q", kept[len(kept)-80:])
		case marker != fmt.Sprintf("%d more bytes)\n", len(long)-len(kept)):
			t.Errorf("long stack's marker says %q, %d bytes were left out", marker, len(long)-len(kept))
		}
	})
}

// Kill refuses a nil option and changes nothing.
func TestKillNilOption(t *testing.T) {
	t.Parallel()
	_, rdb := testutil.MiniRedis(t)
	b := newQueue(t, rdb, broker.Config{})
	deliver(t, b, "t", "f", "x")
	m := pull(t, b, "q")
	if err := b.Kill(t.Context(), m, "x", nil); !errors.Is(err, broker.ErrInvalidArgument) {
		t.Fatalf("Kill(nil option) = %v, want ErrInvalidArgument", err)
	}
	wantStats(t, b, "q", broker.QueueStats{InFlight: 1, Routed: true})
}
