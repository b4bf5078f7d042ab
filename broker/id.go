package broker

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Message IDs are 14 characters of a base64 alphabet, 84 bits: 42 bits of
// Unix milliseconds (enough until the year 2109), then 42 bits that tell
// IDs of the same millisecond apart: a 26-bit producer number, which each
// Broker takes from a counter in Redis the first time it delivers, and a
// 16-bit sequence. A broker never makes the same ID twice: when it makes
// more than 65,536 IDs in a millisecond, it counts on into the next
// millisecond's. Two brokers of one namespace have different producer
// numbers unless 2^26 (67 million) other brokers started between them. IDs
// stay short because each is stored twice per queue, as the field of its
// envelope in msgs and in a list or sorted set: Redis keeps a field of at
// most 14 bytes in 16 allocated bytes, and one of 15 to 30 in 32.
//
// The alphabet is 64 URL-safe characters in ASCII order, so IDs sort as
// their bytes do: by time, then, within a broker, in the order they were
// made; sorted sets that tie on a score (dead letters killed in the same
// millisecond) list them in that order. It starts with the digits, so that
// no ID starts with "-" and reads as a command-line flag.
//
// IDs of the first format, 20 characters over 15 bytes (6 of milliseconds,
// 4 random per process, 5 of a counter), stay valid wherever they are
// stored, and idTime reads both.
const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"

var idEncoding = base64.NewEncoding(idAlphabet).WithPadding(base64.NoPadding)

const (
	idLen          = 14
	idProducerBits = 26
	idSeqBits      = 16
	idHalfChars    = 7 // 42 bits each: the milliseconds, then producer and sequence
)

// idSource makes one broker's message IDs.
type idSource struct {
	mu       sync.Mutex    // held while the producer number is taken
	producer atomic.Int64  // 0 until taken from Redis, then the number + 1
	last     atomic.Uint64 // milliseconds << idSeqBits | sequence, of the last ID
}

// producerNumber returns the broker's producer number, taking the next one
// from the namespace's counter in Redis the first time.
func (b *Broker) producerNumber(ctx context.Context) (uint64, error) {
	s := &b.ids
	if p := s.producer.Load(); p > 0 {
		return uint64(p - 1), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.producer.Load(); p > 0 {
		return uint64(p - 1), nil
	}
	n, err := b.rdb.Incr(ctx, b.keys.producers()).Result()
	if err != nil {
		return 0, wrapRedis("take a producer number", err)
	}
	p := n & (1<<idProducerBits - 1)
	s.producer.Store(p + 1)
	return uint64(p), nil
}

// newID returns the next ID of producer at time now.
func (s *idSource) newID(producer uint64, now time.Time) string {
	t := uint64(now.UnixMilli()) << idSeqBits
	var next uint64
	for {
		last := s.last.Load()
		next = max(last+1, t)
		if s.last.CompareAndSwap(last, next) {
			break
		}
	}
	var b [idLen]byte
	putID42(b[:idHalfChars], next>>idSeqBits)
	putID42(b[idHalfChars:], producer<<idSeqBits|next&(1<<idSeqBits-1))
	return string(b[:])
}

// putID42 writes the low 42 bits of v in 7 characters, most significant
// first.
func putID42(b []byte, v uint64) {
	for i := idHalfChars - 1; i >= 0; i-- {
		b[i] = idAlphabet[v&63]
		v >>= 6
	}
}

// idTime is when the message with this ID was delivered, or the zero time
// for an ID the broker did not make.
func idTime(id string) time.Time {
	switch len(id) {
	case idLen:
		var ms int64
		for i := range idHalfChars {
			c := strings.IndexByte(idAlphabet, id[i])
			if c < 0 {
				return time.Time{}
			}
			ms = ms<<6 | int64(c)
		}
		return time.UnixMilli(ms)
	case 20: // the first format: 6 bytes of milliseconds first
		var raw [6]byte
		if _, err := idEncoding.Decode(raw[:], []byte(id[:8])); err != nil {
			return time.Time{}
		}
		var ms int64
		for _, b := range raw {
			ms = ms<<8 | int64(b)
		}
		return time.UnixMilli(ms)
	}
	return time.Time{}
}
