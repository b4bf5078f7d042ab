package broker

import (
	"fmt"
	"strconv"
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

// deadReason is the value kept in a queue's deaderr hash: the reason as
// it is, or, when there is a stack (or the reason starts with a NUL byte),
// stackMark, the reason's length, ":", the reason and the stack. No
// reason is changed, and a value older than stacks reads as its reason.
func deadReason(reason, stack string) string {
	if stack == "" && !strings.HasPrefix(reason, "\x00") {
		return reason
	}
	return stackMark + strconv.Itoa(len(reason)) + ":" + reason + stack
}

// stackMark starts a deaderr value that holds a stack (see deadReason).
const stackMark = "\x00s"

// splitDeadReason reads a deaderr value into the reason and the stack.
func splitDeadReason(v string) (reason, stack string) {
	rest, ok := strings.CutPrefix(v, stackMark)
	if !ok {
		return v, ""
	}
	num, rest, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || n > len(rest) {
		return v, ""
	}
	return rest[:n], rest[n:]
}
