package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

const (
	// maxNamespaceLen is the longest namespace Namespace returns.
	maxNamespaceLen = 64
	// maxNameLen is how much of the sanitized test name a namespace keeps.
	maxNameLen = 40
)

// namespaceSeq makes namespaces unique within one test binary even if the
// random suffix were to collide.
var namespaceSeq atomic.Uint64

// Namespace returns a key namespace unique to this call, derived from the
// test's name so that keys left behind are easy to attribute. It contains
// only [A-Za-z0-9._-] and is at most 64 characters long.
//
// Tests sharing the real server must keep their keys under their own
// namespace; nothing ever flushes the shared server.
func Namespace(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	b.WriteByte('t')
	name := sanitizeName(t.Name())
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	b.WriteString(name)
	b.WriteByte('-')
	b.WriteString(strconv.FormatUint(namespaceSeq.Add(1), 36))
	b.WriteByte('.')
	b.WriteString(randomHex(4))
	ns := b.String()
	if len(ns) > maxNamespaceLen {
		// Only reachable with an enormous sequence number; keep the
		// unique tail.
		ns = ns[len(ns)-maxNamespaceLen:]
	}
	return ns
}

// sanitizeName maps a test name onto [A-Za-z0-9._-]: the subtest
// separator becomes '.', anything else outside the set becomes '-'.
func sanitizeName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '-':
			return r
		case r == '/':
			return '.'
		default:
			return '-'
		}
	}, name)
}

// randomHex returns n random bytes, hex encoded.
func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // crypto/rand.Read never returns an error.
	return hex.EncodeToString(buf)
}
