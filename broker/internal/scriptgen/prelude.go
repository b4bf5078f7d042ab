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
//
// A region of the body between a line "--@defs begin" and one "--@defs
// end" (both inside one block, which the region must not leave) gets the
// definitions that only it needs at its start, indented as its first
// marker, instead of at the top: a script pays for them only when it runs
// that block. Every Lua definition is made anew on each call (a closure, a
// string built), so the rare paths of a hot script keep theirs there.
func withPrelude(lib, body string) string {
	defs := splitLib(lib)
	outside, regions := splitRegions(body)
	top := needed(defs, outside, nil)
	var b strings.Builder
	for i, d := range defs {
		if top[i] {
			b.WriteString(d.src)
		}
	}
	b.WriteString("\n")
	for _, part := range regions {
		if !part.region {
			b.WriteString(part.text)
			continue
		}
		local := needed(defs, part.text, top)
		b.WriteString(part.head)
		for i, d := range defs {
			if local[i] {
				for line := range strings.Lines(d.src) {
					if strings.TrimSpace(line) != "" {
						b.WriteString(part.indent)
					}
					b.WriteString(line)
				}
			}
		}
		b.WriteString(part.text)
	}
	return b.String()
}

// needed marks the definitions that code uses, directly or through another
// definition, leaving out those that have (defined above it already).
func needed(defs []libDef, code string, have []bool) []bool {
	used := make(map[string]bool)
	luaNames(code, used)
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
	for i := range have {
		keep[i] = keep[i] && !have[i]
	}
	return keep
}

// A bodyPart is a run of a script's body, in a "--@defs" region or not.
type bodyPart struct {
	region       bool
	head, indent string // a region's "begin" marker line and its indentation
	text         string
}

// splitRegions cuts body into its parts, and returns too the text of those
// outside every region.
func splitRegions(body string) (string, []bodyPart) {
	var parts []bodyPart
	var outside strings.Builder
	cur := bodyPart{}
	for line := range strings.Lines(body) {
		switch strings.TrimSpace(line) {
		case "--@defs begin":
			parts = append(parts, cur)
			cur = bodyPart{region: true, head: line, indent: line[:len(line)-len(strings.TrimLeft(line, " \t"))]}
			continue
		case "--@defs end":
			cur.text += line
			parts = append(parts, cur)
			cur = bodyPart{}
			continue
		}
		cur.text += line
		if !cur.region {
			outside.WriteString(line)
		}
	}
	parts = append(parts, cur)
	return outside.String(), parts
}
