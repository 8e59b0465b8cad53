// Package testshared finds the project's shared reference data (real
// checkpoints, tokenizers, haystack text) for tests. The data lives in a
// folder named "shared" beside the repository root; tests that need it skip
// with a clear message when it is absent, so `go test ./...` passes on a
// fresh clone.
package testshared

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Root returns the repository root (the directory holding go.mod), found by
// walking up from the working directory, or "" when there is none.
func Root() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Path returns the path of rel inside the shared data folder (../shared
// relative to the repository root), or "" when it does not exist.
func Path(rel string) string {
	root := Root()
	if root == "" {
		return ""
	}
	p := filepath.Join(root, "..", "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Require returns the path of rel inside the shared data folder, or skips
// the test with a message naming what is missing. Under CI=true it fails
// instead: CI always has the shared data, so a skip there would hide a
// reference check that silently stopped running.
func Require(t testing.TB, rel string) string {
	t.Helper()
	p := Path(rel)
	if p == "" {
		msg := fmt.Sprintf("shared reference data ../shared/%s not found beside the repository root", rel)
		if InCI() {
			t.Fatalf("%s (CI=true: CI must have it)", msg)
		} else {
			t.Skipf("%s; skipping", msg)
		}
	}
	return p
}

// InCI reports whether the tests run under CI (the environment variable CI
// is "true", as CI services set it).
func InCI() bool { return os.Getenv("CI") == "true" }
