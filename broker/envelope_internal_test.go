package broker

import (
	"bytes"
	"errors"
	"maps"
	"testing"
)

func sameEnvelope(a, b envelope) bool {
	return a.facet == b.facet && a.maxAttempts == b.maxAttempts && a.deadline == b.deadline && a.topic == b.topic && maps.Equal(a.headers, b.headers) && bytes.Equal(a.body, b.body)
}

func TestEnvelopeEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    envelope
		want string
	}{
		{"plain", envelope{facet: "f", topic: "t", body: []byte("xy")}, "21:f0:1:t0:xy"},
		{"empty", envelope{}, "20:0:0:0:"},
		{"budget", envelope{facet: "f", topic: "t", maxAttempts: 3, body: []byte("xy")}, "21:f3:1:t0:xy"},
		{"headers sorted", envelope{facet: "acme", topic: "o.c", maxAttempts: 25, headers: map[string]string{"b": "2", "a": "1"}, body: []byte("{}")},
			"24:acme25:3:o.c2:1:a1:11:b1:2{}"},
		{"empty header", envelope{facet: "f", topic: "t", headers: map[string]string{"": ""}}, "21:f0:1:t1:0:0:"},
		{"lookalike body", envelope{facet: "f", topic: "t", body: []byte("21:f0:1:t0:")}, "21:f0:1:t0:21:f0:1:t0:"},
		{"colons and digits", envelope{facet: "1:2", topic: "3:", body: []byte{0, ':', 0xff}}, "23:1:20:2:3:0:\x00:\xff"},
		{"unicode", envelope{facet: "ünï", topic: "日本", body: []byte("é")}, "25:ünï0:6:日本0:é"},
		{"deadline", envelope{facet: "f", topic: "t", maxAttempts: 3, deadline: 1700000000123, body: []byte("xy")}, "31:f3:1700000000123:1:t0:xy"},
		{"deadline and headers", envelope{facet: "1:", topic: "t", deadline: 999999999999999, headers: map[string]string{"k": "v"}},
			"32:1:0:999999999999999:1:t1:1:k1:v"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.e.encode()
			if string(got) != tc.want {
				t.Fatalf("encode = %q, want %q", got, tc.want)
			}
			back, err := decodeEnvelope(string(got))
			if err != nil || !sameEnvelope(back, tc.e) {
				t.Fatalf("decode = %+v, %v; want %+v", back, err, tc.e)
			}
		})
	}
}

// TestDecodeEnvelopeVersion1 reads envelopes as a release before budgets
// stored them: no attempts field, so no budget of their own.
func TestDecodeEnvelopeVersion1(t *testing.T) {
	t.Parallel()
	tests := map[string]envelope{
		"11:f1:t0:xy":                  {facet: "f", topic: "t", body: []byte("xy")},
		"10:0:0:":                      {},
		"14:acme3:o.c2:1:a1:11:b1:2{}": {facet: "acme", topic: "o.c", headers: map[string]string{"a": "1", "b": "2"}, body: []byte("{}")},
	}
	for raw, want := range tests {
		got, err := decodeEnvelope(raw)
		if err != nil || !sameEnvelope(got, want) {
			t.Errorf("decodeEnvelope(%q) = %+v, %v; want %+v", raw, got, err, want)
		}
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty":                "",
		"other version":        "41:f0:1:t0:",
		"no deadline":          "31:f0:1:t0:",
		"deadline not digits":  "31:f0:x:1:t0:",
		"deadline empty":       "31:f0::1:t0:",
		"deadline too long":    "31:f0:1234567890123456:1:t0:",
		"deadline at end":      "31:f0:17",
		"negative deadline":    "31:f0:-5:1:t0:",
		"no budget":            "21:f1:t0:",
		"budget not a number":  "21:fx:1:t0:",
		"version only":         "1",
		"no digits":            "1x:f1:t0:",
		"no colon":             "11f1:t0:",
		"facet too short":      "15:f1:t0:",
		"no topic":             "11:f",
		"topic too short":      "11:f9:t0:",
		"no header count":      "11:f1:t",
		"missing headers":      "11:f1:t2:1:a1:1",
		"missing header value": "11:f1:t1:1:k",
		"header count huge":    "11:f1:t9999999999:",
		"eleven digits":        "112345678901:f",
		"negative length":      "1-1:f1:t0:",
		"number at end":        "11:f1:t12",
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if e, err := decodeEnvelope(raw); !errors.Is(err, errBadEnvelope) {
				t.Fatalf("decodeEnvelope(%q) = %+v, %v; want errBadEnvelope", raw, e, err)
			}
		})
	}
}

// FuzzDecodeEnvelope checks that decoding never panics, that what decodes
// encodes to something that decodes the same, and that every envelope
// survives encode and decode.
func FuzzDecodeEnvelope(f *testing.F) {
	seeds := []envelope{
		{facet: "f", topic: "t", body: []byte("xy")},
		{facet: "acme", topic: "orders.created", headers: map[string]string{"traceparent": "00-1-2-01", "a": ""}, body: []byte(`{"n":1}`)},
		{facet: "ünï", topic: "3:", body: []byte{0, 0xff}},
	}
	for _, e := range seeds {
		f.Add(string(e.encode()), e.facet, e.topic, "k", "v", e.body)
	}
	for _, raw := range []string{"", "1", "10:0:0:", "21:f3:1:t0:", "11:f1:t9999999999:", "112345678901:f", "11:f1:t2:1:a1:1", "\xff",
		"31:f3:1700000000123:1:t0:", "31:f3:0:1:t0:", "31:f3:x:1:t0:", "31:f3:1234567890123456:1:t0:"} {
		f.Add(raw, "", "", "", "", []byte(nil))
	}
	f.Fuzz(func(t *testing.T, raw, facet, topic, hk, hv string, body []byte) {
		if e, err := decodeEnvelope(raw); err == nil {
			again, err := decodeEnvelope(string(e.encode()))
			if err != nil || !sameEnvelope(again, e) {
				t.Fatalf("%q decodes to %+v, which re-encodes to %+v, %v", raw, e, again, err)
			}
		}
		// With no deadline (version 2) and with one (version 3).
		for _, deadline := range []int64{0, 1_700_000_000_000 + int64(len(raw))} {
			e := envelope{facet: facet, topic: topic, headers: map[string]string{hk: hv}, body: body, deadline: deadline}
			got, err := decodeEnvelope(string(e.encode()))
			if err != nil || !sameEnvelope(got, e) {
				t.Fatalf("round trip of %+v gave %+v, %v", e, got, err)
			}
		}
	})
}
