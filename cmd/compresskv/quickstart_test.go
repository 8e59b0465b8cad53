package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/profile/schema"
)

// TestQuickstartOnSynth runs the whole pipeline on the built-in model and
// checks what a newcomer gets: a valid calibrated profile whose SRH ranking
// puts the planted retrieval heads first, a figure and the reference files.
func TestQuickstartOnSynth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs profile + calibrate on the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := runCLI("quickstart", "--dir", dir)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, step := range []string{"$ compresskv profile", "$ compresskv calibrate", "$ compresskv plot", "$ compresskv inspect"} {
		if !strings.Contains(out, step) {
			t.Errorf("output does not show step %q", step)
		}
	}
	p, err := schema.ReadFile(filepath.Join(dir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Calibration == nil {
		t.Fatal("profile is not calibrated")
	}
	for layer, head := range synth.RetrievalHeads(synth.DefaultOptions()) {
		if got := p.Heads.Ranking[layer][0]; got != head {
			t.Errorf("layer %d: SRH ranks head %d first, want planted head %d", layer, got, head)
		}
	}
	for _, f := range []string{"heads.png", "reference/head_idx.json", "reference/layer_score.jsonl"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
}
