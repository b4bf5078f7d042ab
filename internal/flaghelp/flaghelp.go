// Package flaghelp prints command-line help the same way in every program
// of the module (the fairway CLI and the example worker): flags spelled
// "--name", with the defaults in effect, and never a password.
package flaghelp

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// RedactURL hides the password of a URL, for help and errors. A URL that
// does not parse is hidden whole when it may hold a password (an "@").
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "(a URL that does not parse; hidden, as it may hold a password)"
		}
		return s
	}
	return u.Redacted()
}

// Print writes one flag as "--name TYPE" (one dash for a one-letter name),
// its usage and def, the default in effect, as flag.PrintDefaults does but
// with the usual spelling. An empty or "false" def is left out.
func Print(w io.Writer, f *flag.Flag, def string) {
	typ, usage := flag.UnquoteUsage(f)
	dashes := "--"
	if len(f.Name) == 1 {
		dashes = "-"
	}
	line := "  " + dashes + f.Name
	if typ != "" {
		line += " " + typ
	}
	if def != "" && def != "false" {
		usage += " (default " + def + ")"
	}
	_, _ = fmt.Fprintf(w, "%s\n        %s\n", line, strings.ReplaceAll(usage, "\n", "\n        "))
}

// PrintAll writes every flag of fs with Print, each with its DefValue.
func PrintAll(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) { Print(w, f, f.DefValue) })
}
