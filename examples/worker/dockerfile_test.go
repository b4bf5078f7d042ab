package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what can be checked without docker: the files the
// Dockerfile copies exist, the package it builds builds the same way
// (CGO_ENABLED=0, static), and the Kubernetes manifest runs the image the
// Dockerfile says it builds.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	root := filepath.Join("..", "..")
	for _, m := range regexp.MustCompile(`(?m)^COPY ([^-].*) \S+$`).FindAllStringSubmatch(df, -1) {
		for _, src := range strings.Fields(m[1]) {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("the Dockerfile copies %s: %v", src, err)
			}
		}
	}
	build := regexp.MustCompile(`go build .* -o \S+ (\./\S+)`).FindStringSubmatch(df)
	if build == nil {
		t.Fatal("the Dockerfile has no go build of a package")
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(t.TempDir(), "fairway-worker"), build[1])
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s as the Dockerfile does: %v\n%s", build[1], err, out)
	}
	manifest, err := os.ReadFile(filepath.Join(root, "examples", "deploy", "kubernetes", "worker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	image := regexp.MustCompile(`(?m)^\s+image: (\S+)$`).FindStringSubmatch(string(manifest))
	if image == nil {
		t.Fatal("the manifest names no image")
	}
	if !strings.Contains(df, "-t "+image[1]+" ") {
		t.Errorf("the manifest runs %s, which the Dockerfile's build command does not tag", image[1])
	}
}
