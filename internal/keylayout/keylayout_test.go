package keylayout

import "testing"

// TestNamesUnique checks that no two rows share a Go name, a Lua name or,
// among the keys under one prefix, a suffix that one of them starts with.
func TestNamesUnique(t *testing.T) {
	goNames, luaNames := map[string]bool{}, map[string]bool{}
	name := func(seen map[string]bool, n string) {
		if n == "" {
			return
		}
		if seen[n] {
			t.Errorf("name %q is used twice", n)
		}
		seen[n] = true
	}
	for _, keys := range [][]Key{Queue, Registry} {
		for i, k := range keys {
			name(goNames, k.Go)
			name(luaNames, k.Lua)
			for _, f := range k.Fields {
				name(goNames, f.Go)
				name(luaNames, f.Lua)
			}
			for _, o := range keys[i+1:] {
				if k.Suffix == o.Suffix || k.Var != "" && len(o.Suffix) >= len(k.Suffix) && o.Suffix[:len(k.Suffix)] == k.Suffix ||
					o.Var != "" && len(k.Suffix) >= len(o.Suffix) && k.Suffix[:len(o.Suffix)] == o.Suffix {
					t.Errorf("keys %q and %q collide", k.Suffix, o.Suffix)
				}
			}
		}
	}
}
