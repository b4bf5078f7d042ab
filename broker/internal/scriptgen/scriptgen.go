// Package scriptgen makes the files of the broker that are generated from
// the key table of internal/keylayout: `go generate ./broker` writes them,
// and a broker test fails when one on disk differs from what Files makes.
package scriptgen

import (
	"os"
	"path/filepath"

	"github.com/fairwayhq/fairway/internal/keylayout"
)

// Files returns every generated file, by its path relative to the broker
// package's directory dir, made from the table and from the sources under
// dir (the documents whose key-layout section it rewrites).
func Files(dir string) (map[string][]byte, error) {
	names, err := keylayout.GoNames()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{
		"../internal/keylayout/names_gen.go": names,
		"scripts/keys.lua":                   keylayout.LuaPrelude(),
	}
	for path, render := range map[string]func([]byte) ([]byte, error){
		"doc.go":       keylayout.GoDoc,
		"../README.md": keylayout.Markdown,
	} {
		src, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			return nil, err
		}
		if out[path], err = render(src); err != nil {
			return nil, err
		}
	}
	return out, nil
}
