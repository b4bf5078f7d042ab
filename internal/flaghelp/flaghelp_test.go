package flaghelp

import (
	"flag"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:pw@127.0.0.1:6379/0":  "redis://:xxxxx@127.0.0.1:6379/0",
		"redis://u:pw@127.0.0.1:6379/0": "redis://u:xxxxx@127.0.0.1:6379/0",
		"redis://127.0.0.1:6379/0":      "redis://127.0.0.1:6379/0",
		"redis://:pw@[bad":              "(a URL that does not parse; hidden, as it may hold a password)",
		"redis://[bad":                  "redis://[bad",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintAll(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("redis", "redis://127.0.0.1:6379/0", "Redis `URL`")
	fs.Bool("v", false, "verbose")
	var out strings.Builder
	PrintAll(&out, fs)
	want := "  --redis URL\n        Redis URL (default redis://127.0.0.1:6379/0)\n  -v\n        verbose\n"
	if out.String() != want {
		t.Errorf("PrintAll =\n%s\nwant\n%s", out.String(), want)
	}
}
