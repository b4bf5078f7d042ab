package broker

import (
	"strings"
	"testing"
)

// TestWithPrelude checks that a script gets the library definitions it
// uses, directly or through another, in the library's order, and no other.
func TestWithPrelude(t *testing.T) {
	lib := `-- header
local P = KEYS[1]
local K_A = P .. 'a'  -- a
local K_B, K_C = P .. 'b', P .. 'c'

-- helper uses K_B.
local function helper()
  -- K_A in a comment is no use of it
  return redis.call('GET', K_B)
end

local function unused()
  return K_A
end
`
	got := withPrelude(lib, "return helper()")
	for _, want := range []string{"local P =", "local K_B, K_C =", "local function helper()"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"local K_A", "unused"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("%q should be left out of:\n%s", unwanted, got)
		}
	}
	if !strings.HasSuffix(got, "\nreturn helper()") || strings.Index(got, "local P") > strings.Index(got, "local K_B") {
		t.Errorf("order:\n%s", got)
	}
	// The enqueue script, which runs once per Deliver, carries none of the
	// lease and dead-letter helpers.
	enqueue := withPrelude(readScript("lib"), readScript("enqueue"))
	for _, unwanted := range []string{"local function reclaim", "local function dead_letter", "local K_LEASE "} {
		if strings.Contains(enqueue, unwanted) {
			t.Errorf("the enqueue script carries %q", unwanted)
		}
	}
}
