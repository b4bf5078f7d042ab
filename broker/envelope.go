package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sort"
	"strconv"
	"sync/atomic"
	"time"
)

// An envelope is how a message is stored: the facet first (the scripts read
// it), then the topic, the headers and the body, each length-prefixed:
//
//	"1" <len> ":" facet <len> ":" topic <count> ":" (<len> ":" key <len> ":" value)* body
//
// The leading "1" is the format's version.
const envelopeVersion = '1'

var errBadEnvelope = errors.New("broker: unreadable envelope")

type envelope struct {
	facet, topic string
	headers      map[string]string
	body         []byte
}

func (e *envelope) encode() []byte {
	n := 16 + len(e.facet) + len(e.topic) + len(e.body)
	for k, v := range e.headers {
		n += len(k) + len(v) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, envelopeVersion)
	b = appendField(b, e.facet)
	b = appendField(b, e.topic)
	b = strconv.AppendInt(b, int64(len(e.headers)), 10)
	b = append(b, ':')
	keys := make([]string, 0, len(e.headers))
	for k := range e.headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = appendField(b, k)
		b = appendField(b, e.headers[k])
	}
	return append(b, e.body...)
}

func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// decodeEnvelope parses what encode wrote. It never panics on foreign bytes.
func decodeEnvelope(s string) (envelope, error) {
	var e envelope
	if len(s) == 0 || s[0] != envelopeVersion {
		return e, errBadEnvelope
	}
	r := envelopeReader{s: s, i: 1}
	e.facet = r.field()
	e.topic = r.field()
	count := r.number()
	if r.err == nil && count > 0 {
		if count > len(s) {
			return e, errBadEnvelope
		}
		e.headers = make(map[string]string, count)
		for range count {
			k := r.field()
			e.headers[k] = r.field()
		}
	}
	if r.err != nil {
		return envelope{}, r.err
	}
	e.body = []byte(s[r.i:])
	return e, nil
}

type envelopeReader struct {
	s   string
	i   int
	err error
}

// number reads "<digits>:".
func (r *envelopeReader) number() int {
	if r.err != nil {
		return 0
	}
	n, start := 0, r.i
	for r.i < len(r.s) && r.s[r.i] >= '0' && r.s[r.i] <= '9' && r.i-start < 10 {
		n = n*10 + int(r.s[r.i]-'0')
		r.i++
	}
	if r.i == start || r.i >= len(r.s) || r.s[r.i] != ':' {
		r.err = errBadEnvelope
		return 0
	}
	r.i++
	return n
}

// field reads "<len>:<bytes>".
func (r *envelopeReader) field() string {
	n := r.number()
	if r.err != nil {
		return ""
	}
	if n > len(r.s)-r.i {
		r.err = errBadEnvelope
		return ""
	}
	v := r.s[r.i : r.i+n]
	r.i += n
	return v
}

// Message IDs are 20 characters of base64 over 15 bytes: 6 bytes of Unix
// milliseconds, 4 random bytes fixed per process, and a 5-byte counter that
// starts at a random value. They are unique across processes without
// coordination and tell when the message was delivered. Their alphabet is
// 64 URL-safe characters in ASCII order, so IDs sort as their bytes do: by
// time, then, within a process, in the order they were made; sorted sets
// that tie on a score (dead letters killed in the same millisecond) list
// them in that order. It starts with the digits, so that no ID starts with
// "-" and reads as a command-line flag.
var (
	idProcess  [4]byte
	idCounter  atomic.Uint64
	idEncoding = base64.NewEncoding("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~").WithPadding(base64.NoPadding)
)

func init() {
	var seed [8]byte
	_, _ = rand.Read(idProcess[:])
	_, _ = rand.Read(seed[:])
	idCounter.Store(binary.BigEndian.Uint64(seed[:]))
}

func newID(now time.Time) string {
	var raw [15]byte
	ms := uint64(now.UnixMilli())
	c := idCounter.Add(1)
	for i := range 6 {
		raw[i] = byte(ms >> (40 - 8*i))
	}
	copy(raw[6:10], idProcess[:])
	for i := range 5 {
		raw[10+i] = byte(c >> (32 - 8*i))
	}
	return idEncoding.EncodeToString(raw[:])
}

// idTime is when the message with this ID was delivered, or the zero time
// for an ID the broker did not make.
func idTime(id string) time.Time {
	if len(id) != 20 {
		return time.Time{}
	}
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
