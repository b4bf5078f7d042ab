package scriptgen

import (
	"regexp"
	"strings"
)

// A libDef is one top-level definition of a library, "local NAME = ..." or
// "local function NAME(...)" up to the next one, with the comment above it.
type libDef struct {
	names []string // the locals it defines
	src   string
}

var (
	libDefHead = regexp.MustCompile(`^local\s+(?:function\s+)?([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)`)
	luaComment = regexp.MustCompile(`--[^\n]*`)
	luaName    = regexp.MustCompile(`[A-Za-z_]\w*`)
)

// splitLib cuts a library into its top-level definitions. Every top-level
// statement of a library is a local definition that has no effect but
// defining it, and code inside a function is indented, so a line that starts
// with "local" starts a definition. Comments and blank lines between two
// definitions go with the second.
func splitLib(lib string) []libDef {
	var defs []libDef
	var cur, pending strings.Builder
	var names []string
	flush := func() {
		if names != nil {
			defs = append(defs, libDef{names: names, src: cur.String()})
		}
		cur.Reset()
	}
	for line := range strings.Lines(lib) {
		trimmed := strings.TrimSpace(line)
		if m := libDefHead.FindStringSubmatch(line); m != nil {
			flush()
			names = nil
			for n := range strings.SplitSeq(m[1], ",") {
				names = append(names, strings.TrimSpace(n))
			}
		} else if trimmed == "" || strings.HasPrefix(line, "--") {
			pending.WriteString(line)
			continue
		}
		cur.WriteString(pending.String())
		pending.Reset()
		cur.WriteString(line)
	}
	flush()
	return defs
}

// luaNames is the set of names code mentions outside comments (inside
// strings too: a name counted that is not used only costs a definition).
func luaNames(code string, into map[string]bool) {
	for _, n := range luaName.FindAllString(luaComment.ReplaceAllString(code, ""), -1) {
		into[n] = true
	}
}

// withPrelude prefixes body with the definitions of lib that it needs. A
// definition can only use the ones above it, so one pass from the last
// definition up finds every one needed.
func withPrelude(lib, body string) string {
	defs := splitLib(lib)
	used := make(map[string]bool)
	luaNames(body, used)
	keep := make([]bool, len(defs))
	for i := len(defs) - 1; i >= 0; i-- {
		for _, n := range defs[i].names {
			if used[n] {
				keep[i] = true
			}
		}
		if keep[i] {
			luaNames(defs[i].src, used)
		}
	}
	var b strings.Builder
	for i, d := range defs {
		if keep[i] {
			b.WriteString(d.src)
		}
	}
	b.WriteString("\n")
	b.WriteString(body)
	return b.String()
}
