// Command gen writes the broker's generated files (see package scriptgen).
// It runs in the broker package's directory, from its go:generate line.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fairwayhq/fairway/broker/internal/scriptgen"
)

func main() {
	files, err := scriptgen.Files(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scriptgen:", err)
		os.Exit(1)
	}
	for path, b := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "scriptgen:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "scriptgen:", err)
			os.Exit(1)
		}
	}
}
