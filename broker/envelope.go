package broker

import (
	"errors"
	"sort"
	"strconv"
)

// An envelope is how a message is stored: the facet and the most deliveries
// the message gets first (the scripts read them), then the topic, the
// headers and the body, the strings length-prefixed:
//
//	"2" <len> ":" facet <attempts> ":" <len> ":" topic <count> ":" (<len> ":" key <len> ":" value)* body
//
// The leading "2" is the format's version. attempts is the message's
// budget: its delivery's own, else the producer's Config.MaxAttempts,
// which enqueue.lua replaces by the queue's default when the queue has one
// and the delivery set none. A stored 0, and version "1", which has no
// attempts field, give the message the Config.MaxAttempts of the broker
// that reads it; version "1" is still read.
//
// Version "3" is version 2 with the message's deadline after the attempts:
//
//	"3" <len> ":" facet <attempts> ":" <deadline> ":" <len> ":" topic ...
//
// deadline is when the message expires unless it has started, in ms on
// Redis's clock (0: never). Only enqueue.lua writes it, from the delivery's
// TTL or the queue's default, so a producer's clock never sets it; a
// message that does not expire keeps version 2, byte for byte, and costs a
// pull nothing to check.
const (
	envelopeVersion   = '2'
	envelopeVersionV1 = '1'
	envelopeVersionV3 = '3'
)

var errBadEnvelope = errors.New("broker: unreadable envelope")

type envelope struct {
	facet, topic string
	headers      map[string]string
	body         []byte
	maxAttempts  int   // 0: not set (and always in a version 1 envelope)
	deadline     int64 // ms, Redis's clock; 0: none (versions 1 and 2)
}

func (e *envelope) encode() []byte {
	n := 40 + len(e.facet) + len(e.topic) + len(e.body)
	for k, v := range e.headers {
		n += len(k) + len(v) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, envelopeVersion)
	if e.deadline > 0 {
		b[0] = envelopeVersionV3
	}
	b = appendField(b, e.facet)
	b = strconv.AppendInt(b, int64(e.maxAttempts), 10)
	b = append(b, ':')
	if e.deadline > 0 {
		b = strconv.AppendInt(b, e.deadline, 10)
		b = append(b, ':')
	}
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
	if len(s) == 0 || s[0] != envelopeVersion && s[0] != envelopeVersionV1 && s[0] != envelopeVersionV3 {
		return e, errBadEnvelope
	}
	r := envelopeReader{s: s, i: 1}
	e.facet = r.field()
	if s[0] != envelopeVersionV1 {
		e.maxAttempts = r.number()
	}
	if s[0] == envelopeVersionV3 {
		e.deadline = r.digits(deadlineDigits)
	}
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

// deadlineDigits is the most digits of a deadline: ms since 1970 up to
// the year 33658, beyond any Redis clock plus the longest TTL.
const deadlineDigits = 15

// number reads "<digits>:", of at most 10 digits.
func (r *envelopeReader) number() int {
	return int(r.digits(10))
}

// digits reads "<digits>:", of at most limit digits.
func (r *envelopeReader) digits(limit int) int64 {
	if r.err != nil {
		return 0
	}
	var n int64
	start := r.i
	for r.i < len(r.s) && r.s[r.i] >= '0' && r.s[r.i] <= '9' && r.i-start < limit {
		n = n*10 + int64(r.s[r.i]-'0')
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
