package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/profile/schema"
)

// interopProfile writes a small calibrated profile (2 layers, 4 query
// heads, 2 KV heads) and a config.json of the same shape; returns the
// profile path and the model folder.
func interopProfile(t *testing.T, dir, scoring string) (string, string) {
	t.Helper()
	srh := [][]float64{{0.5, 0.25, 0.75, 0}, {0, 0.125, 0.0625, 1}}
	kv, err := schema.KVView(srh, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := &schema.Profile{
		Schema: schema.Version, Tool: schema.Tool{Name: "compresskv", Version: "test"},
		Model:  schema.Model{Architecture: "llama", Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 4, Fingerprint: "sha256:x"},
		Probes: schema.ProbeInfo{Scoring: scoring, SkipReasons: map[string]int{}, SuccessRecall: 0.5},
		Heads: schema.Heads{
			SRH: srh, Retrieval: [][]float64{{0, 0, 0, 0}, {0, 0, 0, 0}},
			Ranking: [][]int{{2, 0, 1, 3}, {3, 1, 2, 0}}, RetrievalRanking: [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}}, KV: kv,
		},
		Calibration: &schema.Calibration{
			Budget: 32, Window: 8, Kernel: 5, Pooling: "avg", TopK: 2, Floor: 32, CeilingFactor: 3,
			Datasets:    []schema.DatasetScore{{Name: "qa", Prompts: 1, Steps: 1, LayerErrors: []float64{1, 3}, LayerScores: []float64{0.25, 0.75}}},
			LayerScores: []float64{0.25, 0.75}, Budgets: map[string][]int{"64": {40, 88}},
		},
	}
	data, err := schema.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, scoring+".json")
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	modelDir := filepath.Join(dir, "model")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := `{"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32}`
	if err := os.WriteFile(filepath.Join(modelDir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, modelDir
}

// TestExportImportDiff: every format goes out and comes back with the
// ranking it keeps; diff of the original and the import warns that the
// scoring differs and reports Jaccard and Kendall tau.
func TestExportImportDiff(t *testing.T) {
	dir := t.TempDir()
	prof, modelDir := interopProfile(t, dir, "greedy")
	files := map[string]string{"ref": "", "headkv": "head_score.json", "duo": "", "kvpress": "duo_attention_pattern.npy", "qrhead": "qr_head.yaml"}
	for format, file := range files {
		out := filepath.Join(dir, format)
		args := []string{"export", prof, "--format", format, "-o", out}
		if format == "kvpress" {
			args = append(args, "--prompt-length", "100", "--avg", "64")
		}
		code, stdout, stderr := runCLI(args...)
		if code != exitOK || !strings.Contains(stdout, "wrote "+out) {
			t.Fatalf("%s export: exit %d: %s%s", format, code, stdout, stderr)
		}
		imported := filepath.Join(dir, format+"-imported.json")
		code, _, stderr = runCLI("import", filepath.Join(out, file), "--format", format, "--model", modelDir, "-o", imported)
		if code != exitOK {
			t.Fatalf("%s import: exit %d: %s", format, code, stderr)
		}
		p, err := schema.ReadFile(imported)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][][]int{
			"ref": {{2, 0, 1, 3}, {3, 1, 2, 0}}, "headkv": {{2, 0, 1, 3}, {3, 1, 2, 0}},
			// one value per KV head: the group order survives, heads inside a group tie
			"duo": {{2, 3, 0, 1}, {2, 3, 0, 1}}, "kvpress": {{2, 3, 0, 1}, {2, 3, 0, 1}},
			// top 16 pairs of 8 heads: all, in global SRH order
			"qrhead": {{2, 0, 1, 3}, {3, 1, 2, 0}},
		}[format]
		if !reflect.DeepEqual(p.Heads.Ranking, want) || p.Probes.Scoring != "imported:"+format {
			t.Errorf("%s: ranking %v (scoring %s), want %v", format, p.Heads.Ranking, p.Probes.Scoring, want)
		}
	}
	ratios, err := os.ReadFile(filepath.Join(dir, "kvpress", "per_layer_compression.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(ratios) != `{"prompt_length": 100, "average_budget": 64, "budgets": [40, 88], "compression_ratios": [0.6, 0.12]}`+"\n" {
		t.Errorf("ratios file %s", ratios)
	}

	code, stdout, stderr := runCLI("diff", prof, filepath.Join(dir, "duo-imported.json"), "--json", "--top-k", "2")
	if code != exitOK || !strings.Contains(stderr, "warning: the profiles were scored differently (A: greedy, B: imported:duo)") {
		t.Fatalf("diff: exit %d, stderr %q", code, stderr)
	}
	var rep struct {
		ScoringMismatch bool `json:"scoring_mismatch"`
		Layers          []struct {
			Jaccard    float64  `json:"jaccard"`
			KendallTau *float64 `json:"kendall_tau"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	// Layer 0: top-2 {2,0} vs {2,3}: 1 shared of 3. The import gives each
	// query head its KV head's value, [0.5 0.5 0.75 0.75]; against
	// [0.5 0.25 0.75 0]: 2 concordant, 2 discordant, 2 ties in B: tau 0.
	if !rep.ScoringMismatch || len(rep.Layers) != 2 || rep.Layers[0].Jaccard != 1.0/3 ||
		rep.Layers[0].KendallTau == nil || *rep.Layers[0].KendallTau != 0 {
		t.Errorf("diff --json: %s", stdout)
	}
	code, stdout, _ = runCLI("diff", prof, filepath.Join(dir, "headkv-imported.json"))
	if code != exitOK || !strings.HasPrefix(stdout, "WARNING: the profiles were scored differently") || !strings.Contains(stdout, "mean Kendall tau: 1.000") {
		t.Errorf("diff table: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runCLI("diff", prof, filepath.Join(dir, "headkv-imported.json"), "--same-scoring")
	if code != exitDrift {
		t.Errorf("--same-scoring: exit %d, want %d (%s)", code, exitDrift, stderr)
	}
	code, stdout, stderr = runCLI("diff", prof, prof)
	if code != exitOK || strings.Contains(stdout+stderr, "WARNING") || strings.Contains(stderr, "warning") {
		t.Errorf("diff of a profile with itself: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestImportShapeErrors(t *testing.T) {
	dir := t.TempDir()
	prof, _ := interopProfile(t, dir, "greedy")
	out := filepath.Join(dir, "ref")
	if code, _, stderr := runCLI("export", prof, "--format", "ref", "-o", out); code != exitOK {
		t.Fatal(stderr)
	}
	other := filepath.Join(dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	config := `{"model_type": "llama", "hidden_size": 64, "intermediate_size": 32, "num_hidden_layers": 32,
		"num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 32}`
	if err := os.WriteFile(filepath.Join(other, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("import", filepath.Join(out, "head_idx.json"), "--format", "ref", "--model", other, "-o", filepath.Join(dir, "x.json"))
	want := "head_idx.json: rankings for 2 layers, but the model has 32 layers x 8 query heads (2 KV heads)"
	if code != exitFailure || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want one line containing %q", code, stderr, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", prof, "--format", "vllm", "-o", out}, `--format: format "vllm": want one of ref, headkv, duo, kvpress, qrhead`},
		{[]string{"export", prof, "--format", "duo"}, "-o DIR is required"},
		{[]string{"export", prof, "--format", "duo", "--prompt-length", "10", "-o", out}, "--prompt-length is for --format kvpress"},
		{[]string{"import", prof, "--format", "duo", "--model", "acme/none", "-o", "x.json"}, `run "huggingface-cli download acme/none"`},
	} {
		t.Setenv("HF_HUB_CACHE", dir)
		code, _, stderr := runCLI(tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
