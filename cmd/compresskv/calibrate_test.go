package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

const calibrateTinyConfig = `{"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 3,
 "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 48,
 "vocab_size": 64, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
 "bos_token_id": 1, "eos_token_id": 2}`

// rankedTestProfile writes a valid uncalibrated profile for the model in
// dir whose SRH scores give ranking.
func rankedTestProfile(t *testing.T, modelDir, path string, ranking [][]int) {
	t.Helper()
	m, err := model.Load(modelDir, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := &schema.Profile{Schema: schema.Version, Tool: schema.Tool{Name: "compresskv", Version: "test"}, Model: profile.ModelInfo(m)}
	for _, r := range ranking {
		srh := make([]float64, len(r))
		for i, h := range r {
			srh[h] = float64(len(r) - i)
		}
		p.Heads.SRH = append(p.Heads.SRH, srh)
		p.Heads.Retrieval = append(p.Heads.Retrieval, slices.Clone(srh))
		p.Heads.Ranking = append(p.Heads.Ranking, slices.Clone(r))
		p.Heads.RetrievalRanking = append(p.Heads.RetrievalRanking, slices.Clone(r))
	}
	writeTestProfile(t, path, p)
}

func writeTestProfile(t *testing.T, path string, p *schema.Profile) {
	t.Helper()
	data, err := schema.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// idDataset writes a JSON Lines dataset of random id-level prompts.
func idDataset(t *testing.T, path string, seed uint64, lengths []int, vocab int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	for _, n := range lengths {
		ids := []int{1}
		for len(ids) < n {
			ids = append(ids, 3+rng.IntN(vocab-3))
		}
		data, _ := json.Marshal(map[string][]int{"ids": ids})
		b.Write(data)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestProfile(t *testing.T, path string) *schema.Profile {
	t.Helper()
	p, err := schema.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tinyCalibrateSetup writes the tiny random checkpoint (calibrateTinyConfig)
// into a test folder and a profile for it with a fixed ranking, and
// returns the folder, the model folder and the profile's path.
func tinyCalibrateSetup(t *testing.T) (dir, modelDir, prof string) {
	t.Helper()
	dir = t.TempDir()
	modelDir = filepath.Join(dir, "tiny")
	if _, err := modeltest.RandomCheckpoint(modelDir, []byte(calibrateTinyConfig), 3, kernels.F32); err != nil {
		t.Fatal(err)
	}
	prof = filepath.Join(dir, "p.json")
	rankedTestProfile(t, modelDir, prof, [][]int{{3, 0, 1, 2}, {1, 2, 0, 3}, {0, 3, 2, 1}})
	return dir, modelDir, prof
}

func TestCalibrateCommand(t *testing.T) {
	dir, modelDir, prof := tinyCalibrateSetup(t)
	dataA, dataB := filepath.Join(dir, "alpha.jsonl"), filepath.Join(dir, "beta.jsonl")
	idDataset(t, dataA, 1, []int{40, 60, 80}, 64)
	idDataset(t, dataB, 2, []int{50, 70}, 64)
	args := func(extra ...string) []string {
		return append([]string{"calibrate", "--model", modelDir, "--profile", prof, "--needles=false",
			"--data", dataA, "--data", dataB, "--budget", "16", "--window", "4", "--top-k", "2",
			"--avgs", "32,48", "--max-new", "5"}, extra...)
	}

	out1, out2 := filepath.Join(dir, "c1.json"), filepath.Join(dir, "c2.json")
	code, stdout, stderr := runCLI(args("-o", out1, "--export-reference", filepath.Join(dir, "ref"))...)
	if code != exitOK {
		t.Fatalf("calibrate: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "calibrated on 2 datasets (alpha, beta), 5 prompts") {
		t.Errorf("summary: %q", stdout)
	}
	if code, _, stderr := runCLI(args("-o", out2, "--threads", "1")...); code != exitOK {
		t.Fatalf("second calibrate: exit %d: %s", code, stderr)
	}
	b1, _ := os.ReadFile(out1)
	b2, _ := os.ReadFile(out2)
	if !bytes.Equal(b1, b2) {
		t.Fatal("two calibrations of the same profile differ")
	}
	p := readTestProfile(t, out1)
	if err := schema.Validate(p); err != nil {
		t.Fatal(err)
	}
	c := p.Calibration
	if c == nil || c.Budget != 16 || c.Window != 4 || c.TopK != 2 || len(c.Budgets) != 2 || len(c.Datasets) != 2 {
		t.Fatalf("calibration %+v", c)
	}
	if _, err := os.Stat(out1 + ".calibrate.jsonl"); !os.IsNotExist(err) {
		t.Errorf("journal left behind: %v", err)
	}
	// --compat reference is recorded (id prompts are used as given).
	outCompat := filepath.Join(dir, "compat.json")
	if code, _, stderr := runCLI(args("-o", outCompat, "--compat", "reference")...); code != exitOK {
		t.Fatalf("calibrate --compat reference: exit %d: %s", code, stderr)
	}
	if c := readTestProfile(t, outCompat).Calibration; c.Compat != "reference" || p.Calibration.Compat != "" {
		t.Errorf("calibration.compat %q, default run %q; want reference and none", c.Compat, p.Calibration.Compat)
	}
	if ref, err := os.ReadFile(filepath.Join(dir, "ref", schema.ReferenceLayerFile)); err != nil || !strings.Contains(string(ref), `"avg_score"`) {
		t.Errorf("reference layer file: %q, %v", ref, err)
	}

	// --check against its own output passes and writes nothing.
	code, stdout, stderr = runCLI(args("--check", out1)...)
	if code != exitOK || !strings.Contains(stdout, "matches the recomputed calibration") {
		t.Fatalf("check against own output: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if b, _ := os.ReadFile(prof); bytes.Contains(b, []byte("calibration")) {
		t.Error("--check wrote the profile")
	}

	// Swapped head ranking in layer 1: heads [1 2] become [0 3].
	swapped := readTestProfile(t, out1)
	swapped.Heads.Ranking[1] = []int{0, 3, 1, 2}
	swapped.Heads.SRH[1] = []float64{4, 2, 1, 3} // the scores that rank so (the profile stays valid)
	bad := filepath.Join(dir, "swapped.json")
	writeTestProfile(t, bad, swapped)
	code, stdout, stderr = runCLI(args("--check", bad)...)
	if code != exitDrift || !strings.Contains(stderr, "layer 1: top-2 heads overlap 0/2") || strings.Contains(stderr, "layer 0: top") {
		t.Errorf("check against swapped ranking: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "top-2 A") {
		t.Errorf("check prints no comparison table: %q", stdout)
	}

	// Budgets of layers 0 and 2 swapped at average 48 (at 32 every layer
	// holds the floor, so nothing can move in a valid profile).
	moved := readTestProfile(t, out1)
	b := moved.Calibration.Budgets["48"]
	if b[0] == b[2] {
		b[0]++
		b[2]--
	} else {
		b[0], b[2] = b[2], b[0]
	}
	writeTestProfile(t, bad, moved)
	code, _, stderr = runCLI(args("--check", bad)...)
	if code != exitDrift || !strings.Contains(stderr, "layer 0: budget changes") || !strings.Contains(stderr, "layer 2: budget changes") || strings.Contains(stderr, "layer 1: budget") {
		t.Errorf("check against moved budgets: exit %d, stderr %q", code, stderr)
	}
	// ... unless the tolerance allows it.
	code, _, stderr = runCLI(args("--check", bad, "--budget-tolerance", "1000")...)
	if code != exitOK {
		t.Errorf("check with a loose budget tolerance: exit %d, stderr %q", code, stderr)
	}

	// diff prints the same comparison.
	code, stdout, _ = runCLI("diff", out1, bad)
	if code != exitOK || !strings.Contains(stdout, "max budget change") || !strings.Contains(stdout, "layer-score L1 distance: 0") {
		t.Errorf("diff: exit %d\n%s", code, stdout)
	}

	// budget reproduces a stored average and allocates any other.
	code, stdout, stderr = runCLI("budget", "--profile", out1, "--avg", "32", "--json")
	if code != exitOK {
		t.Fatalf("budget: exit %d: %s", code, stderr)
	}
	var rep budgetReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Budgets, c.Budgets["32"]) || rep.Total != 96 {
		t.Errorf("budget --avg 32 = %v (total %d), profile holds %v", rep.Budgets, rep.Total, c.Budgets["32"])
	}
	code, stdout, _ = runCLI("budget", "--profile", out1, "--avg", "40")
	if code != exitOK || !strings.Contains(stdout, "avg 40") || !strings.Contains(stdout, "120") {
		t.Errorf("budget table: exit %d\n%s", code, stdout)
	}
}

func TestCalibrateUsageErrors(t *testing.T) {
	dir := t.TempDir()
	uncalibrated := filepath.Join(dir, "p.json")
	modelDir := filepath.Join(dir, "tiny")
	if _, err := modeltest.RandomCheckpoint(modelDir, []byte(calibrateTinyConfig), 3, kernels.F32); err != nil {
		t.Fatal(err)
	}
	rankedTestProfile(t, modelDir, uncalibrated, [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}})
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"calibrate"}, exitUsage, "--profile is required"},
		{[]string{"calibrate", "--profile", "x.json", "--pooling", "median"}, exitUsage, "pooling"},
		{[]string{"calibrate", "--profile", "x.json", "--budget", "8"}, exitUsage, "more than the window"},
		{[]string{"calibrate", "--profile", "x.json", "--avgs", "16"}, exitUsage, "below the per-layer floor"},
		{[]string{"calibrate", "--profile", "x.json", "--max-new", "1"}, exitUsage, "--max-new 1"},
		{[]string{"calibrate", "--profile", "x.json", "--compat", "exact"}, exitUsage, "--compat"},
		{[]string{"calibrate", "--profile", uncalibrated, "--model", modelDir, "--needles=false"}, exitUsage, "no calibration data"},
		{[]string{"budget", "--avg", "64"}, exitUsage, "budget needs PROFILE"},
		{[]string{"budget", "--profile", uncalibrated, "--avg", "64"}, exitFailure, "not calibrated"},
		{[]string{"diff", "a.json"}, exitUsage, "diff needs THEIRS.json"},
		// cobra's own count checks are usage errors by type, not by text.
		{[]string{"merge"}, exitUsage, "requires at least 1 arg"},
		{[]string{"calibrate", "x.json"}, exitUsage, "unknown command \"x.json\""},
		{[]string{"budget", "a.json", "b.json"}, exitUsage, "accepts at most 1 arg"},
	}
	for _, tc := range tests {
		code, _, stderr := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestCalibrateStories runs calibrate end to end on the real stories260K
// checkpoint with id-level prompts and a profile built in the test.
func TestCalibrateStories(t *testing.T) {
	modelDir := testshared.Require(t, "models/stories260K-bf16")
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.json")
	ranking := make([][]int, 5)
	for l := range ranking {
		ranking[l] = []int{(l + 3) % 8, (l + 5) % 8, (l + 1) % 8, (l + 7) % 8}
		for h := 0; h < 8; h++ {
			if !slices.Contains(ranking[l], h) {
				ranking[l] = append(ranking[l], h)
			}
		}
	}
	rankedTestProfile(t, modelDir, prof, ranking)
	data := filepath.Join(dir, "ids.jsonl")
	idDataset(t, data, 3, []int{120, 200}, 512)
	code, stdout, stderr := runCLI("calibrate", "--model", modelDir, "--profile", prof, "--needles=false", "--data", data, "--max-new", "8")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := readTestProfile(t, prof)
	if err := schema.Validate(p); err != nil {
		t.Fatal(err)
	}
	for l, e := range p.Calibration.Datasets[0].LayerErrors {
		if !(e > 0) {
			t.Errorf("layer %d error %v, want positive", l, e)
		}
	}
	if want := fmt.Sprintf("%s: calibrated on 1 datasets (ids), 2 prompts, 14 decode steps", prof); !strings.Contains(stdout, want) {
		t.Errorf("summary %q lacks %q", stdout, want)
	}
}
