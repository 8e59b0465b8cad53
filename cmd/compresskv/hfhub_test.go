package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/profile/schema"
)

// TestModelFromHubCache: --model org/name[@revision] finds the snapshot in
// the Hugging Face cache (HF_HUB_CACHE here) and the profile records the id,
// the revision asked for and the commit; a model not in the cache is one
// line with the download command, exit code 2.
func TestModelFromHubCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	const commit = "0123456789abcdef0123456789abcdef01234567"
	repo := filepath.Join(cache, "models--acme--synth")
	if _, err := synth.Write(filepath.Join(repo, "snapshots", commit), synth.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "p.json")
	code, _, stderr := runCLI("profile", "--model", "acme/synth@main", "-o", out,
		"--lengths", "160", "--depths", "50", "--needles-count", "1", "--buffer", "40", "--max-new", "4", "--min-success", "0")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := schema.Unmarshal(data, out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Model.ID != "acme/synth" || p.Model.Revision != "main" || p.Model.Commit != commit {
		t.Errorf("profile records model %+v; want id acme/synth, revision main, commit %s", p.Model, commit)
	}

	code, _, stderr = runCLI("profile", "--model", "acme/missing", "-o", out)
	want := `compresskv: --model acme/missing: not in the Hugging Face cache at ` + cache +
		` (and no folder of that name); nothing is downloaded: run "huggingface-cli download acme/missing"` + "\n"
	if code != exitUsage || stderr != want {
		t.Errorf("missing model: exit %d, stderr %q; want exit %d and %q", code, stderr, exitUsage, want)
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("not one line: %q", stderr)
	}
}
