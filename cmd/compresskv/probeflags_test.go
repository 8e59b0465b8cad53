package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model/tokenizer"
)

// TestProbeFlagsPrecedence: a value typed under the hidden --needle-count
// alias beats --config, and a YAML list from --config beats the embedded
// defaults (both used to be overwritten).
func TestProbeFlagsPrecedence(t *testing.T) {
	dir := byteTokenizerDir(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("needles-count: 3\nprobes:\n  lengths: [400]\ncalibrate:\n  avgs: [16]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("probes", "--tokenizer", dir, "--config", cfg, "--needle-count", "1", "--depths", "50", "--buffer", "40")
	if code != exitOK || strings.Count(stdout, "\n") != 1 || !strings.Contains(stderr, "probes: 1 built, 0 skipped (1 needles x 1 lengths x 1 depths, template raw)") {
		t.Errorf("--needle-count 1 with needles-count: 3 in --config: exit %d, %d lines, stderr %q", code, strings.Count(stdout, "\n"), stderr)
	}
	code, _, stderr = runCLI("calibrate", "--config", cfg, "--profile", "x.json")
	if code != exitUsage || !strings.Contains(stderr, "below the per-layer floor") {
		t.Errorf("calibrate with avgs: [16] in --config: exit %d, stderr %q; want the floor usage error", code, stderr)
	}
}

// TestProbeInputs checks resolve and build on the byte tokenizer: the grid,
// the template (named, custom, "auto") and the provenance a profile records.
func TestProbeInputs(t *testing.T) {
	dir := byteTokenizerDir(t)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		template     string
		wantTemplate string // recorded in the profile
	}{
		{"raw", "raw"},
		{"chatml", "qwen2"},
		{"auto", "raw"}, // the byte tokenizer has no chat template
		{"Doc: {context}\nQ: {question}\nA:", "Doc: {context}\nQ: {question}\nA:"},
	}
	for _, tc := range tests {
		pf := probeFlags{Template: tc.template, AddSpecial: true}
		pf.Spec.MinLength, pf.Spec.MaxLength, pf.Spec.Intervals = 300, 500, 3
		pf.Spec.Depths, pf.Spec.Buffer = []float64{50}, 60
		pf.Spec.NeedlesCount, pf.Spec.NeedleSeed, pf.Spec.Seed = 2, 4, 9
		in, err := pf.resolve()
		if err != nil {
			t.Fatalf("%q: %v", tc.template, err)
		}
		probes, skips, err := in.buildSome(tok)
		if err != nil {
			t.Fatalf("%q: %v", tc.template, err)
		}
		if len(probes)+len(skips) != 6 || len(probes) == 0 {
			t.Errorf("%q: %d probes + %d skips, want 6 grid positions", tc.template, len(probes), len(skips))
		}
		info := in.info()
		if info.Template != tc.wantTemplate || !slices.Equal(info.ContextLengths, []int{300, 400, 500}) || !slices.Equal(info.Depths, []float64{50}) ||
			info.Buffer != 60 || info.NeedleCount != 2 || info.NeedleSeed != 4 || info.HaystackSeed != 9 || info.Haystack != "generated" || info.Needles != "generated" {
			t.Errorf("%q: info %+v", tc.template, info)
		}
	}

	// A grid that leaves no room for any probe is an error naming the reason.
	pf := probeFlags{Template: "raw", AddSpecial: true}
	pf.Spec.Lengths, pf.Spec.Depths, pf.Spec.Buffer, pf.Spec.NeedlesCount = []int{60}, []float64{0}, 40, 1
	in, err := pf.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.buildSome(tok); err == nil || !strings.Contains(err.Error(), "no probe could be built (1 skipped; first reason: context length 60") {
		t.Errorf("empty grid: %v", err)
	}
}
