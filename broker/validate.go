package broker

import (
	"fmt"
	"unicode/utf8"
)

func validNamespace(ns string) bool {
	return len(ns) >= 1 && len(ns) <= 64 && onlyNameChars(ns)
}

func onlyNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// ValidateQueueName reports whether name can name a queue: 1 to 128 of
// [A-Za-z0-9._-].
func ValidateQueueName(name string) error {
	if len(name) == 0 || len(name) > MaxQueueNameBytes || !onlyNameChars(name) {
		return fmt.Errorf("%w %q: use 1 to %d of [A-Za-z0-9._-]", ErrInvalidQueueName, truncate(name), MaxQueueNameBytes)
	}
	return nil
}

// validName checks a facet, topic or key: non-empty UTF-8, at most 1 KiB.
func validName(kind error, what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", kind, what)
	case len(s) > MaxNameBytes:
		return fmt.Errorf("%w: %s of %d bytes is over %d", kind, what, len(s), MaxNameBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", kind, what, truncate(s))
	}
	return nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}
