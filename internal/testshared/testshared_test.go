package testshared

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootHoldsGoMod(t *testing.T) {
	root := Root()
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("Root() = %q has no go.mod: %v", root, err)
	}
}

func TestPathMissing(t *testing.T) {
	if p := Path("no/such/thing-here"); p != "" {
		t.Fatalf("Path of a missing file = %q, want \"\"", p)
	}
}
