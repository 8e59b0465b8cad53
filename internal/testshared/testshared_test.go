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

// recorder is a testing.TB that records whether Require skipped or failed
// (both stop the goroutine in a real test; here they only record).
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestRequireMissingSkipsOrFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		Require(r, "no/such/thing-here")
		if wantFail := ci == "true"; r.failed != wantFail || r.skipped == wantFail {
			t.Errorf("CI=%q: Require of a missing path: failed %v, skipped %v; want failed %v", ci, r.failed, r.skipped, wantFail)
		}
	}
}
