package broker

import (
	"fmt"
	"strings"
)

// MaxStackBytes bounds the stack kept with a dead letter (WithStack): a
// longer one keeps its first frames, where the panic happened, cut at a
// frame boundary, and a line saying how much was left out.
const MaxStackBytes = 8 << 10

// WithStack keeps stack, a goroutine's stack (of a panic, for example, as
// runtime/debug.Stack gives it), with the message if it becomes a dead
// letter: see DeadLetter.Stack. It is bounded to MaxStackBytes.
func WithStack(stack string) NackOption {
	return func(o *nackOptions) { o.stack = trimStack(stack) }
}

// trimStack bounds stack to MaxStackBytes, and ends it after a whole frame:
// a Go stack is a goroutine header line, then per frame a function line and
// a tab-indented file:line, so a frame ends at a newline that is not
// followed by a tab.
func trimStack(stack string) string {
	if len(stack) <= MaxStackBytes {
		return stack
	}
	const marker = "...\n(stack trimmed: %d more bytes)\n"
	room := stack[:MaxStackBytes-len(marker)-10]
	cut := strings.LastIndexByte(room, '\n') + 1 // a whole line at least
	for i := len(room) - 1; i > 0; i-- {
		if room[i] == '\n' && stack[i+1] != '\t' {
			cut = i + 1
			break
		}
	}
	return stack[:cut] + fmt.Sprintf(marker, len(stack)-cut)
}

// deadReason is the value kept in a queue's deaderr hash: the reason, and
// after a NUL byte the stack when there is one. A NUL in the reason is kept
// as U+FFFD, so the first NUL always starts the stack.
func deadReason(reason, stack string) string {
	reason = strings.ReplaceAll(reason, "\x00", "\uFFFD")
	if stack == "" {
		return reason
	}
	return reason + "\x00" + stack
}

// splitDeadReason reads a deaderr value into the reason and the stack.
func splitDeadReason(v string) (reason, stack string) {
	reason, stack, _ = strings.Cut(v, "\x00")
	return reason, stack
}
