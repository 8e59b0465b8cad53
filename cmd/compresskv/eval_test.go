package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/calibrate/eval"
	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/profile/schema"
)

// synthProfiles writes, for the synthetic model in modelDir, an
// uncalibrated profile ranking each layer's planted head first and a
// calibrated copy of it.
func synthProfiles(t *testing.T, modelDir, dir string) (plain, calibrated string) {
	t.Helper()
	planted := synth.RetrievalHeads(synth.DefaultOptions())
	var ranking [][]int
	for l := 0; l < synth.DefaultLayers; l++ {
		first := planted[l] // layer 0 has none: head 0
		r := []int{first}
		for h := 0; h < 4; h++ {
			if h != first {
				r = append(r, h)
			}
		}
		ranking = append(ranking, r)
	}
	plain = filepath.Join(dir, "synth-profile.json")
	rankedTestProfile(t, modelDir, plain, ranking)
	p := readTestProfile(t, plain)
	p.Probes.Needles, p.Probes.NeedleSeed, p.Probes.NeedleCount = "generated", 1, 2
	writeTestProfile(t, plain, p)
	scores := []float64{0.25, 0.25, 0.5}
	p.Calibration = &schema.Calibration{Budget: 32, Window: 8, Kernel: 5, Pooling: "avg", TopK: 1, Floor: 16, CeilingFactor: 3,
		LayerScores: scores, Budgets: map[string][]int{}}
	for _, avg := range []int{32, 64} {
		p.Calibration.Budgets[strconv.Itoa(avg)] = calibrate.Allocate(scores, avg, 16, 3)
	}
	calibrated = filepath.Join(dir, "synth-calibrated.json")
	writeTestProfile(t, calibrated, p)
	return plain, calibrated
}

func TestEvalCommand(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	modelDir, cleanup, err := syntheticModelDir()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	dir := t.TempDir()
	plain, calibrated := synthProfiles(t, modelDir, dir)
	out := filepath.Join(dir, "eval.json")
	args := []string{"eval", "--profile", calibrated, "-o", out, "--methods", "full,streaming,snapkv,compresskv-uniform,compresskv",
		"--budgets", "32,64,4096", "--lengths", "256,512", "--depths", "0,25,50,75,100", "--needles-count", "1", "--max-new", "12"}
	code, stdout, stderr := runCLI(args...)
	if code != exitOK {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "eval plan: 10 probes x (5 methods, 3 budgets) = 130 decodes") {
		t.Errorf("no plan on stderr: %q", stderr)
	}
	for _, want := range []string{"10 probes x 13 method-budget runs", "compresskv-uniform", "│ full "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	d, err := eval.Unmarshal(first, out)
	if err != nil {
		t.Fatal(err)
	}
	if d.Grid.NeedleSeed != 2 || d.Profile.SameNeedles || !d.Profile.Calibrated {
		t.Errorf("needle seed %d (want the profile's + 1), same needles %v, calibrated %v", d.Grid.NeedleSeed, d.Profile.SameNeedles, d.Profile.Calibrated)
	}
	// Above every prompt length nothing is evicted: every method is full.
	for _, a := range d.Summary {
		if a.Budget == 4096 && (a.KeptFraction != 1 || a.SuccessRate != d.Summary[0].SuccessRate) {
			t.Errorf("%s@4096: kept %v, success %v; want everything and full's %v", a.Method, a.KeptFraction, a.SuccessRate, d.Summary[0].SuccessRate)
		}
	}
	if code, _, stderr := runCLI(append(args, "--threads", "1")...); code != exitOK {
		t.Fatalf("second eval: %s", stderr)
	}
	second, _ := os.ReadFile(out)
	if !bytes.Equal(first, second) {
		t.Fatal("two runs wrote different bytes")
	}

	// Two shards merged write the bytes of the single run.
	var shards []string
	for i := 0; i < 2; i++ {
		if code, _, stderr := runCLI(append(args, "--shard", strconv.Itoa(i)+"/2")...); code != exitOK {
			t.Fatalf("shard %d: %s", i, stderr)
		}
		shards = append(shards, out+".shard-"+strconv.Itoa(i)+"-of-2.jsonl")
	}
	merged := filepath.Join(dir, "merged.json")
	if code, _, stderr := runCLI("merge", shards[0], shards[1], "-o", merged); code != exitOK {
		t.Fatalf("merge: %s", stderr)
	}
	if m, _ := os.ReadFile(merged); !bytes.Equal(m, first) {
		t.Fatal("merged shards differ from the single run")
	}

	code, stdout, stderr = runCLI("inspect", out)
	if code != exitOK || !strings.Contains(stdout, "compresskv-uniform") || !strings.Contains(stdout, "KV kept") {
		t.Errorf("inspect eval.json: exit %d %s\n%s", code, stderr, stdout)
	}
	png := filepath.Join(dir, "eval.png")
	if code, _, stderr := runCLI("plot", out, "-o", png, "--budget", "64"); code != exitOK {
		t.Errorf("plot eval.json: exit %d %s", code, stderr)
	} else if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Errorf("plot wrote nothing: %v", err)
	}

	// The circularity guard: the profile's own needles are refused...
	code, _, stderr = runCLI("eval", "--profile", plain, "-o", out, "--methods", "full,compresskv-uniform", "--budgets", "32",
		"--lengths", "256", "--depths", "50", "--needles-count", "1", "--needle-seed", "1")
	if code != exitUsage || !strings.Contains(stderr, "needles are ones the profile was scored on") {
		t.Errorf("same needles: exit %d %q", code, stderr)
	}
	// ...unless asked for, and then recorded.
	code, _, stderr = runCLI("eval", "--profile", plain, "-o", out, "--methods", "full,compresskv-uniform", "--budgets", "32",
		"--lengths", "256", "--depths", "50", "--needles-count", "1", "--needle-seed", "1", "--same-needles")
	if code != exitOK {
		t.Fatalf("--same-needles: exit %d %s", code, stderr)
	}
	data, _ := os.ReadFile(out)
	if d, err := eval.Unmarshal(data, out); err != nil || !d.Profile.SameNeedles {
		t.Errorf("--same-needles not recorded: %v", err)
	}
}

func TestEvalUsageErrors(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	modelDir, cleanup, err := syntheticModelDir()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	dir := t.TempDir()
	plain, _ := synthProfiles(t, modelDir, dir)
	tiny := filepath.Join(dir, "tiny")
	if _, err := modeltest.RandomCheckpoint(tiny, []byte(calibrateTinyConfig), 3, kernels.F32); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.json")
	rankedTestProfile(t, tiny, other, [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}})
	out := filepath.Join(dir, "e.json")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"profile of another model", []string{"--profile", other, "--methods", "full,compresskv-uniform"}, "profile is for 3 layers x 4 heads (2 KV, head_dim 8)"},
		{"uncalibrated profile", []string{"--profile", plain}, "profile is not calibrated, and method compresskv needs its per-layer budgets"},
		{"budget below the window", []string{"--profile", plain, "--methods", "full,snapkv", "--budgets", "64,4"}, "--budgets 4: want more than the observation window 8"},
		{"unknown method", []string{"--methods", "full,h2o"}, `--methods: unknown method "h2o"`},
		{"no profile for compresskv", []string{"--methods", "compresskv-uniform"}, "--profile is required by the compresskv methods"},
		{"negative distractors", []string{"--methods", "full", "--distractors", "-1"}, "--distractors -1: want a count >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"eval", "-o", out, "--lengths", "256", "--depths", "50"}, tc.args...)
			code, _, stderr := runCLI(args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line naming %q", code, stderr, tc.want)
			}
		})
	}
}

// The acceptance run of the issue: the streaming variant of the synthetic
// model, several lengths, five depths, budgets from below to above the
// prompt length; it prints the table, and the profile's own heads keep the
// answers all-head selection loses.
func TestEvalStreamingVariant(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "synth-streaming")
	o := synth.Options{Seed: 1, Layers: 3, Streaming: true}
	if _, err := synth.Write(modelDir, o); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "p.json")
	var ranking [][]int
	spans := map[int]int{}
	for _, h := range synth.SpanHeads(o) {
		spans[h.Layer] = h.Head
	}
	planted := synth.RetrievalHeads(o)
	for l := 0; l < 3; l++ {
		r := []int{planted[l], spans[l]} // layer 0: heads 0 and 0, fixed below
		if l == 0 {
			r = []int{0, 1}
		}
		for h := 0; h < 4; h++ {
			if !slices.Contains(r, h) {
				r = append(r, h)
			}
		}
		ranking = append(ranking, r)
	}
	rankedTestProfile(t, modelDir, prof, ranking)
	out := filepath.Join(dir, "eval.json")
	start := time.Now()
	code, stdout, stderr := runCLI("eval", "--model", modelDir, "--profile", prof, "-o", out, "--top-k", "2",
		"--methods", "full,streaming,snapkv,compresskv-uniform", "--budgets", "16,64,2048",
		"--lengths", "256,512,1024", "--depths", "0,25,50,75,100", "--needles-count", "1", "--needle-seed", "2",
		"--template", "answer-prefix", "--buffer", "50", "--haystack", "generated", "--max-new", "12")
	if code != exitOK {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	t.Logf("15 probes x 10 runs in %v (shared machine)", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(stdout, "15 probes x 10 method-budget runs") || !strings.Contains(stdout, "│ compresskv-uniform │ 64 ") {
		t.Fatalf("no table:\n%s", stdout)
	}
	data, _ := os.ReadFile(out)
	d, err := eval.Unmarshal(data, out)
	if err != nil {
		t.Fatal(err)
	}
	rate := map[string]float64{}
	for _, a := range d.Summary {
		rate[fmt.Sprintf("%s@%d", a.Method, a.Budget)] = a.SuccessRate
	}
	if rate["full@0"] != 1 || rate["compresskv-uniform@2048"] != 1 || rate["snapkv@2048"] != 1 {
		t.Errorf("full or the no-eviction budget failed: %v", rate)
	}
	if rate["compresskv-uniform@64"] <= rate["snapkv@64"] || rate["compresskv-uniform@64"] <= rate["streaming@64"] {
		t.Errorf("at 64 tokens per layer compresskv-uniform succeeds %.2f, snapkv %.2f, streaming %.2f; want compresskv ahead", rate["compresskv-uniform@64"], rate["snapkv@64"], rate["streaming@64"])
	}
}

func TestEvalDryRun(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "e.json")
	code, stdout, stderr := runCLI("eval", "-o", out, "--methods", "full,streaming,snapkv", "--budgets", "32,64",
		"--lengths", "256,512", "--depths", "0,50,100", "--needles-count", "1", "--dry-run")
	if code != exitOK {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "eval plan: 6 probes x (3 methods, 2 budgets) = 30 decodes") || !strings.Contains(stdout, "plan: projected ") {
		t.Errorf("plan: %q", stdout)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--dry-run wrote %s", out)
	}

	// A grid the model cannot hold is refused before any prompt is built.
	dir := testshared.Require(t, "models/stories260K-f32")
	code, _, stderr = runCLI("eval", "--dry-run", "--model", dir, "-o", out, "--methods", "full", "--min-length", "1000", "--max-length", "31500", "--intervals", "20")
	if code != exitUsage || !strings.Contains(stderr, "the model is too small for this grid: 20 of 20 context lengths (up to 31500 tokens) + 50 new tokens exceed its context of 512 tokens") {
		t.Errorf("exit %d, stderr %q; want the grid refused", code, stderr)
	}
}
