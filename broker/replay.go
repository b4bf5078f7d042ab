package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// A script call whose second run would change a queue further (enqueue,
// pull, nack, release, dead-letter requeue, purge and move) carries a replay
// marker: a key unique to the call, which the script writes with what it
// did and reads first (scripts/lib.lua). go-redis sends a command again
// after a network error or a read timeout, and so may run a script that
// Redis had already run when only its reply was lost; the second run then
// finds the marker and answers as the first did. The other scripts are safe
// to run twice as they are: an ack of a message already acked answers
// "gone", an extend sets the same deadline again, and the settings scripts
// set values rather than add to them.
//
// A marker is kept for Config.ReplayWindow, and every call that carries one
// runs under a deadline of two thirds of that window (replayBound), so the
// client can send no retry of it after Redis has forgotten it ran. Both are
// durations, each measured on one clock, so no clock skew between Redis and
// this process matters.

// requestIDBytes is the size of a request ID before encoding: 72 random
// bits, 12 characters.
const requestIDBytes = 9

// newRequestID is a random ID for one script call. Lease tokens end with the
// request ID of the pull that took them, so that they cannot be guessed and
// no token from another namespace or server matches.
func newRequestID() string {
	var b [requestIDBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// replayKey is the replay marker of one call on queue.
func (k keyspace) replayKey(queue, requestID string) string {
	return k.queuePrefix(queue) + keylayout.Replay + requestID
}

// replayBound is how long a call carrying a replay marker may take, retries
// included.
func (b *Broker) replayBound() time.Duration { return b.cfg.ReplayWindow * 2 / 3 }

// bounded is ctx with replayBound as its deadline at the latest.
func (b *Broker) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.replayBound())
}

// takesReplayMarker are the scripts whose second run would change a queue
// further: queueCall gives their calls a marker.
var takesReplayMarker = map[*redis.Script]bool{
	scriptEnqueue:     true,
	scriptPull:        true,
	scriptNack:        true,
	scriptRelease:     true,
	scriptDeadRequeue: true,
	scriptDeadPurge:   true,
	scriptDeadMove:    true,
}

// replayCall prepares a call of a script that takes a replay marker: KEYS[2]
// is the marker, ARGV[2] how long it is kept, after the wake channel.
func (b *Broker) replayCall(s *redis.Script, queue string, args ...any) *scriptCall {
	return &scriptCall{
		script: s,
		keys:   []string{b.keys.queuePrefix(queue), b.keys.replayKey(queue, newRequestID())},
		args:   append([]any{b.keys.wakeChannel(queue), ms(b.cfg.ReplayWindow)}, args...),
	}
}
