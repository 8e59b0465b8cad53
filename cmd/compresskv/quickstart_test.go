package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

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

// TestQuickstartForwardsSettings: grid flags, --config and COMPRESSKV_*
// settings reach the steps, and the echoed lines replay exactly what ran.
func TestQuickstartForwardsSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs profile + calibrate on the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("COMPRESSKV_SEED", "3")
	tmp := t.TempDir()
	config := filepath.Join(tmp, "run.yaml")
	if err := os.WriteFile(config, []byte("profile:\n  needle-seed: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "out")
	code, out, errOut := runCLI("quickstart", "--dir", dir, "--config", config, "--lengths", "256", "--depths", "0,50")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	want := "$ COMPRESSKV_SEED=3 compresskv profile -o " + filepath.Join(dir, "profile.json") + " --config " + config + " --lengths 256 --depths 0,50\n"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks the exact profile line %q:\n%s", want, out)
	}
	p, err := schema.ReadFile(filepath.Join(dir, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	pi := p.Probes
	if len(pi.ContextLengths) != 1 || pi.ContextLengths[0] != 256 || len(pi.Depths) != 2 || pi.HaystackSeed != 3 || pi.NeedleSeed != 5 {
		t.Errorf("profile ran lengths %v depths %v haystack seed %d needle seed %d; want [256] [0 50] 3 5 (flags, environment, --config)",
			pi.ContextLengths, pi.Depths, pi.HaystackSeed, pi.NeedleSeed)
	}
}

// TestQuickstartRealModelUsesQuickGrid: with --model, profile runs the quick
// grid unless told otherwise, and model and runtime flags reach calibrate.
func TestQuickstartRealModelUsesQuickGrid(t *testing.T) {
	cmd := newQuickstartCommand(&streams{})
	if err := cmd.ParseFlags([]string{"--model", "m", "--threads", "2", "--depths", "0,50"}); err != nil {
		t.Fatal(err)
	}
	opts := &quickstartOptions{dir: "d", model: "m"}
	cmd.Flags().Visit(func(f *pflag.Flag) { opts.given = append(opts.given, f) })
	steps := quickstartSteps(opts)
	if got, want := strings.Join(steps[0], " "), "profile -o d/profile.json --model m --threads 2 --quick --depths 0,50"; got != want {
		t.Errorf("profile step %q, want %q", got, want)
	}
	if got, want := strings.Join(steps[1], " "), "calibrate --profile d/profile.json --export-reference d/reference --model m --threads 2"; got != want {
		t.Errorf("calibrate step %q, want %q", got, want)
	}
}

func TestShellLine(t *testing.T) {
	got := shellLine([]string{"COMPRESSKV_TEMPLATE={context} Q: {question}"}, []string{"compresskv", "profile", "--model", "my models/x", "-o", "a.json"})
	want := `COMPRESSKV_TEMPLATE='{context} Q: {question}' compresskv profile --model 'my models/x' -o a.json`
	if got != want {
		t.Errorf("shellLine = %q, want %q", got, want)
	}
}
