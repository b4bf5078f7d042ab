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
const (
	envelopeVersion   = '2'
	envelopeVersionV1 = '1'
)

var errBadEnvelope = errors.New("broker: unreadable envelope")

type envelope struct {
	facet, topic string
	headers      map[string]string
	body         []byte
	maxAttempts  int // 0: not set (and always in a version 1 envelope)
}

func (e *envelope) encode() []byte {
	n := 24 + len(e.facet) + len(e.topic) + len(e.body)
	for k, v := range e.headers {
		n += len(k) + len(v) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, envelopeVersion)
	b = appendField(b, e.facet)
	b = strconv.AppendInt(b, int64(e.maxAttempts), 10)
	b = append(b, ':')
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
	if len(s) == 0 || s[0] != envelopeVersion && s[0] != envelopeVersionV1 {
		return e, errBadEnvelope
	}
	r := envelopeReader{s: s, i: 1}
	e.facet = r.field()
	if s[0] == envelopeVersion {
		e.maxAttempts = r.number()
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
