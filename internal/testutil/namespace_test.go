package testutil

import (
	"regexp"
	"strings"
	"testing"
)

var validNamespace = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func TestNamespace(t *testing.T) {
	t.Parallel()
	names := []string{
		"short",
		"with spaces/and:colons{and}braces*?",
		strings.Repeat("very-long-subtest-name_", 10),
		"ünïcode/名前",
	}
	seen := make(map[string]bool)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for range 500 {
				ns := Namespace(t)
				if !validNamespace.MatchString(ns) {
					t.Fatalf("Namespace() = %q (len %d); want [A-Za-z0-9._-]{1,64}", ns, len(ns))
				}
				if seen[ns] {
					t.Fatalf("Namespace() returned %q twice", ns)
				}
				seen[ns] = true
			}
		})
	}
}

func TestNamespaceReflectsTestName(t *testing.T) {
	t.Parallel()
	ns := Namespace(t)
	if !strings.HasPrefix(ns, "tTestNamespaceReflectsTestName-") {
		t.Fatalf("Namespace() = %q; want it to start with t + test name", ns)
	}
	t.Run("sub test", func(t *testing.T) {
		t.Parallel()
		if ns := Namespace(t); !strings.HasPrefix(ns, "tTestNamespaceReflectsTestName.sub-test-") {
			t.Fatalf("Namespace() = %q; want the subtest name with '/' as '.'", ns)
		}
	})
}
