package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/fairwayhq/fairway/broker/internal/scriptgen"
)

// TestGeneratedFilesFresh checks that every file generated from the key
// table and the script sources is what `go generate ./broker` makes now,
// byte for byte: the Go and Lua names, the docs' key layout, and the full
// text of each script Redis runs.
func TestGeneratedFilesFresh(t *testing.T) {
	t.Parallel()
	files, err := scriptgen.Files(".")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.FromSlash(path))
		if err != nil {
			t.Errorf("%s: %v; run `go generate ./broker`", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./broker`", path)
		}
	}
	onDisk, err := filepath.Glob(filepath.Join("scripts", "gen", "*.lua"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range onDisk {
		if _, ok := files[filepath.ToSlash(p)]; !ok {
			t.Errorf("%s is generated from no source: delete it", p)
		}
	}
}
