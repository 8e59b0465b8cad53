package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// validProfile is a small, hand-checked consistent profile: 2 layers, 4
// query heads, 2 KV heads, calibrated for average budgets 40 and 64.
func validProfile() *Profile {
	return &Profile{
		Schema: Version,
		Tool:   Tool{Name: "compresskv", Version: "test"},
		Model:  Model{Architecture: "llama", Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, Fingerprint: "sha256:00"},
		Probes: ProbeInfo{
			Scoring: "greedy", Template: "raw", Haystack: "generated", HaystackSeed: 1,
			Needles: "generated", NeedleSeed: 2, NeedleCount: 1,
			ContextLengths: []int{100}, Depths: []float64{0, 50}, Buffer: 20,
			MaxNewTokens: 50, SuccessRecall: 0.5,
			Run: 2, Successful: 1, Skipped: 1, SkipReasons: map[string]int{"span not found": 1},
			Results: []ProbeResult{
				{Index: 0, ContextLength: 100, Tokens: 98, Depth: 0, NeedleID: "n0", Response: "blue", Recall: 1, Success: true},
				{Index: 2, ContextLength: 100, Tokens: 97, Depth: 50, NeedleID: "n0", Response: "red", Recall: 0, Success: false},
			},
		},
		Heads: Heads{
			SRH:              [][]float64{{0.5, 0.25, 0.5, 0}, {0, 0, 0.125, 1}},
			Retrieval:        [][]float64{{0, 0, 0, 0}, {0.5, 0, 0, 0.5}},
			Ranking:          [][]int{{0, 2, 1, 3}, {3, 2, 0, 1}},
			RetrievalRanking: [][]int{{0, 1, 2, 3}, {0, 3, 1, 2}},
			// KV head g reads query heads 2g, 2g+1.
			KV: &KVHeads{
				SRHMax:  [][]float64{{0.5, 0.5}, {0, 1}},
				SRHMean: [][]float64{{0.375, 0.25}, {0, 0.5625}},
				Ranking: [][]int{{0, 1}, {1, 0}},
			},
			Stability: &Stability{
				Method: "bootstrap", Resamples: 200, Seed: 1, TopK: 2, Probes: 1,
				TopKProbability: [][]float64{{1, 0, 1, 0}, {0, 0, 1, 1}},
				TopKJaccard:     []float64{1, 1},
			},
		},
		Calibration: &Calibration{
			Budget: 32, Window: 8, Kernel: 5, Pooling: "avg", TopK: 4, Floor: 32, CeilingFactor: 3,
			Datasets: []DatasetScore{
				{Name: "qa", Prompts: 2, Steps: 10, LayerErrors: []float64{1, 3}, LayerScores: []float64{0.25, 0.75}},
			},
			LayerScores: []float64{0.25, 0.75},
			Budgets:     map[string][]int{"40": {34, 46}, "64": {40, 88}},
		},
	}
}

func TestValidateAcceptsValid(t *testing.T) {
	if err := Validate(validProfile()); err != nil {
		t.Fatal(err)
	}
	p := validProfile()
	p.Calibration = nil
	if err := Validate(p); err != nil {
		t.Fatalf("uncalibrated profile: %v", err)
	}
	p = validProfile()
	p.Probes.Compat = "reference"
	p.Calibration.Compat = "reference"
	if err := Validate(p); err != nil {
		t.Fatalf("reference-compatible probes: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Profile)
		want   string
	}{
		{"wrong schema", func(p *Profile) { p.Schema = "foo" }, `schema "foo"`},
		{"heads not multiple of kv", func(p *Profile) { p.Model.KVHeads = 3 }, "not a multiple"},
		{"srh too few layers", func(p *Profile) { p.Heads.SRH = p.Heads.SRH[:1] }, "heads.srh has 1 layers"},
		{"retrieval short row", func(p *Profile) { p.Heads.Retrieval[1] = p.Heads.Retrieval[1][:3] }, "heads.retrieval[1] has 3 heads"},
		{"NaN score", func(p *Profile) { p.Heads.SRH[0][1] = math.NaN() }, "heads.srh[0][1] is NaN"},
		{"Inf score", func(p *Profile) { p.Heads.Retrieval[1][2] = math.Inf(1) }, "heads.retrieval[1][2] is +Inf"},
		{"ranking repeats a head", func(p *Profile) { p.Heads.Ranking[0] = []int{0, 2, 2, 3} }, "not a permutation"},
		{"ranking out of range", func(p *Profile) { p.Heads.Ranking[1] = []int{3, 2, 0, 4} }, "not a permutation"},
		{"ranking against scores", func(p *Profile) { p.Heads.Ranking[1] = []int{2, 3, 0, 1} }, "head 2 (score 0.125) ranked before head 3"},
		{"tie broken by higher head", func(p *Profile) { p.Heads.Ranking[0] = []int{2, 0, 1, 3} }, "ties by lower head"},
		{"retrieval ranking against scores", func(p *Profile) { p.Heads.RetrievalRanking[0] = []int{1, 0, 2, 3} }, "retrieval_ranking[0]"},
		{"stability method", func(p *Profile) { p.Heads.Stability.Method = "jackknife" }, `stability.method "jackknife"`},
		{"stability resamples", func(p *Profile) { p.Heads.Stability.Resamples = 0 }, "stability.resamples is 0"},
		{"stability top_k", func(p *Profile) { p.Heads.Stability.TopK = 5 }, "stability.top_k is 5, want 1..4"},
		{"stability probes", func(p *Profile) { p.Heads.Stability.Probes = 2 }, "stability.probes is 2 but 1 probes succeeded"},
		{"stability short row", func(p *Profile) { p.Heads.Stability.TopKProbability[1] = []float64{1, 1} }, "top_k_probability[1] has 2 heads"},
		{"stability probability range", func(p *Profile) { p.Heads.Stability.TopKProbability[0] = []float64{1.5, -0.5, 1, 0} }, "top_k_probability[0][0] is 1.5"},
		{"stability probability sum", func(p *Profile) { p.Heads.Stability.TopKProbability[1][0] = 0.5 }, "top_k_probability[1] adds up to 2.5, want top_k = 2"},
		{"stability jaccard length", func(p *Profile) { p.Heads.Stability.TopKJaccard = []float64{1} }, "top_k_jaccard has 1 entries"},
		{"stability jaccard range", func(p *Profile) { p.Heads.Stability.TopKJaccard[1] = 1.25 }, "top_k_jaccard[1] is 1.25"},
		{"stability jaccard NaN", func(p *Profile) { p.Heads.Stability.TopKJaccard[0] = math.NaN() }, "top_k_jaccard[0] is NaN"},
		{"until_stable jaccard", func(p *Profile) { p.Probes.UntilStable = &UntilStable{Jaccard: 0, Window: 5, Order: "spread"} }, "until_stable.jaccard is 0"},
		{"until_stable window", func(p *Profile) { p.Probes.UntilStable = &UntilStable{Jaccard: 0.9, Window: 0, Order: "spread"} }, "until_stable.window is 0"},
		{"until_stable order", func(p *Profile) { p.Probes.UntilStable = &UntilStable{Jaccard: 0.9, Window: 5, Order: "index"} }, `until_stable.order "index"`},
		{"run count", func(p *Profile) { p.Probes.Run = 3 }, "probes.run is 3"},
		// results[1] failed the gate: under teacher forcing it must count.
		{"teacher-forced probe not counted", func(p *Profile) { p.Probes.Scoring = "teacher-forced" }, "teacher-forced scoring counts every probe"},
		{"successful count", func(p *Profile) { p.Probes.Successful = 2 }, "probes.successful is 2"},
		{"skipped count", func(p *Profile) { p.Probes.Skipped = 0 }, "probes.skipped is 0"},
		{"success against recall", func(p *Profile) { p.Probes.Results[1].Recall = 0.75 }, "success false but recall 0.75"},
		{"recall exactly at gate", func(p *Profile) { p.Probes.Results[0].Recall = 0.5 }, "success true but recall 0.5"},
		{"unknown compat mode", func(p *Profile) { p.Probes.Compat = "exact" }, `probes.compat is "exact"`},
		{"unknown calibration compat mode", func(p *Profile) { p.Calibration.Compat = "none" }, `calibration.compat is "none"`},
		{"results out of order", func(p *Profile) { p.Probes.Results[1].Index = 0 }, "increasing index order"},
		{"NaN recall", func(p *Profile) { p.Probes.Results[1].Recall = math.NaN() }, "recall is NaN"},
		{"layer scores length", func(p *Profile) { p.Calibration.LayerScores = []float64{1} }, "layer_scores has 1 entries"},
		{"layer scores sum", func(p *Profile) { p.Calibration.LayerScores = []float64{0.5, 0.6} }, "sums to 1.1"},
		{"dataset scores sum", func(p *Profile) { p.Calibration.Datasets[0].LayerScores = []float64{0.5, 0.4} }, "sums to 0.9"},
		{"budget sum", func(p *Profile) { p.Calibration.Budgets["40"] = []int{34, 45} }, "sums to 79, want 80"},
		{"budget floor", func(p *Profile) { p.Calibration.Budgets["40"] = []int{30, 50} }, "below the floor 32"},
		{"budget ceiling", func(p *Profile) { p.Calibration.Budgets["20"] = []int{61, -21} }, "above the ceiling 60 (3 x 20)"},
		{"budget key", func(p *Profile) { p.Calibration.Budgets["040"] = []int{40, 40} }, `key "040"`},
		{"NaN extra", func(p *Profile) { p.Calibration.Extra = map[string]float64{"x": math.NaN()} }, "extra"},
		{"1e9 heads", func(p *Profile) { p.Model.Heads = 1e9; p.Model.KVHeads = 1e9 }, "heads 1000000000, kv_heads 1000000000, head_dim 8: implausibly large"},
		{"too many layers", func(p *Profile) { p.Model.Layers = MaxLayers + 1 }, "layers 4097"},
		{"top_k too large", func(p *Profile) { p.Calibration.TopK = 1000 }, "calibration.top_k is 1000, want 1..4"},
		{"top_k negative", func(p *Profile) { p.Calibration.TopK = -3 }, "calibration.top_k is -3, want 1..4"},
		{"window zero", func(p *Profile) { p.Calibration.Window = 0 }, "calibration.window is 0"},
		{"budget within window", func(p *Profile) { p.Calibration.Budget = 8 }, "calibration.budget is 8, want more than the window 8"},
		{"even kernel", func(p *Profile) { p.Calibration.Kernel = 4 }, "calibration.kernel is 4, want an odd number"},
		{"pooling", func(p *Profile) { p.Calibration.Pooling = "sum" }, `calibration.pooling is "sum"`},
		{"probe compute", func(p *Profile) { p.Probes.Compute = "f16" }, `probes.compute is "f16", want "f32" or "bf16"`},
		{"calibration compute", func(p *Profile) { p.Calibration.Compute = "F32" }, `calibration.compute is "F32"`},
		{"negative floor", func(p *Profile) { p.Calibration.Floor = -1 }, "calibration.floor is -1"},
		{"ceiling factor zero", func(p *Profile) { p.Calibration.CeilingFactor = 0 }, "calibration.ceiling_factor is 0, want 1..65536"},
		{"probe rope", func(p *Profile) { p.Probes.Rope = "float64" }, `probes.rope is "float64", want hf or exact`},
		{"calibration rope", func(p *Profile) { p.Calibration.Rope = "HF" }, `calibration.rope is "HF", want hf or exact`},
		{"huge average", func(p *Profile) { p.Calibration.Budgets["4611686018427387904"] = []int{1, 2} }, `key "4611686018427387904"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validProfile()
			tc.mutate(p)
			err := Validate(p)
			if err == nil {
				t.Fatalf("Validate accepted a profile with %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestMarshalGoldenAndRoundTrip(t *testing.T) {
	p := validProfile()
	data, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "valid.json")
	if *update {
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("Marshal output differs from %s:\n%s", golden, data)
	}
	if !bytes.HasSuffix(data, []byte("}\n")) || !bytes.HasPrefix(data, []byte("{\n  \"schema\": ")) {
		t.Fatalf("want 2-space indented JSON starting with schema and ending in a newline, got %q...", data[:20])
	}
	back, err := Unmarshal(data, "valid.json")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatal("Marshal(Unmarshal(Marshal(p))) differs from Marshal(p)")
	}
	if err := Validate(back); err != nil {
		t.Fatal(err)
	}
}

func TestMarshalRejectsNaN(t *testing.T) {
	p := validProfile()
	p.Heads.SRH[0][0] = math.NaN()
	if _, err := Marshal(p); err == nil {
		t.Fatal("Marshal encoded a NaN")
	}
}

func TestUnmarshalRejects(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"wrong schema", `{"schema": "foo"}`, `x.json: schema "foo" is not compresskv.profile/v1`},
		{"no schema", `{"tool": {}}`, `x.json: no "schema" field`},
		{"not JSON", `schema: foo`, "x.json: not a JSON profile document"},
		{"wrong type", `{"schema": "compresskv.profile/v1", "model": {"layers": "two"}}`, "x.json: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tc.data), "x.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good, err := Marshal(validProfile())
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadFile(write("good.json", good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Calibration.TopK != 4 || p.Model.Heads != 4 {
		t.Fatalf("ReadFile read %+v", p.Model)
	}
	bad := validProfile()
	bad.Calibration.TopK = 1000
	data, err := Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	path := write("bad.json", data)
	if _, err := ReadFile(path); err == nil || err.Error() != path+": profile: calibration.top_k is 1000, want 1..4 (the model's heads per layer)" {
		t.Errorf("ReadFile of a profile with top_k 1000: %v", err)
	}
	// A file past the cap is refused before it is decoded.
	// (The cap is lowered to the good file's size so the test stays small.)
	defer func(n int64) { maxFileSize = n }(maxFileSize)
	maxFileSize = int64(len(good))
	if _, err := ReadFile(write("exact.json", good)); err != nil {
		t.Errorf("ReadFile of a file exactly at the cap: %v", err)
	}
	big := write("big.json", append(good, ' '))
	if _, err := ReadFile(big); err == nil || err.Error() != fmt.Sprintf("%s: larger than %d bytes, too large for a profile", big, len(good)) {
		t.Errorf("ReadFile of a file one byte past the cap: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none.json")); !os.IsNotExist(err) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}

// FuzzRead checks that the profile reader never panics, and that a document
// it accepts encodes to one it reads back equal.
func FuzzRead(f *testing.F) {
	good, err := Marshal(validProfile())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"schema":"compresskv.profile/v1","model":{"layers":1,"heads":1000000000,"kv_heads":1,"head_dim":1}}`))
	f.Add([]byte(`{"schema":"compresskv.profile/v1","model":{"layers":1,"heads":1,"kv_heads":1,"head_dim":1},"heads":{"srh":[[0]],"retrieval":[[0]],"ranking":[[0]],"retrieval_ranking":[[0]]},"probes":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Read(data, "x.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "x.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out, err := Marshal(p)
		if err != nil {
			t.Fatalf("accepted profile does not encode: %v", err)
		}
		again, err := Read(out, "y.json")
		if err != nil {
			t.Fatalf("re-encoded profile is refused: %v", err)
		}
		out2, err := Marshal(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not stable: %v", err)
		}
	})
}

func TestExportReference(t *testing.T) {
	dir := t.TempDir()
	p := validProfile()
	// 11 layers so that numeric key order ("2" before "10") differs from
	// string order.
	p.Heads.Ranking = nil
	for l := 0; l < 11; l++ {
		p.Heads.Ranking = append(p.Heads.Ranking, []int{(l + 1) % 4, (l + 2) % 4, (l + 3) % 4, l % 4})
	}
	if err := ExportReference(p, dir); err != nil {
		t.Fatal(err)
	}
	heads, err := os.ReadFile(filepath.Join(dir, ReferenceHeadFile))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"0": [1,2,3,0], "1": [2,3,0,1], "2": [3,0,1,2]`
	if !strings.HasPrefix(string(heads), want) || !strings.HasSuffix(string(heads), `"10": [3,0,1,2]}`+"\n") {
		t.Fatalf("head file:\n%s\nwant it to start with %s and end with layer 10", heads, want)
	}
	var decoded map[string][]int
	if err := json.Unmarshal(heads, &decoded); err != nil || len(decoded) != 11 {
		t.Fatalf("head file does not decode to 11 layers: %v", err)
	}
	layers, err := os.ReadFile(filepath.Join(dir, ReferenceLayerFile))
	if err != nil {
		t.Fatal(err)
	}
	wantLayers := "{\n  \"qa\": [0.25,0.75],\n  \"avg_score\": [0.25,0.75]\n}\n"
	if string(layers) != wantLayers {
		t.Fatalf("layer file:\n%s\nwant:\n%s", layers, wantLayers)
	}

	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("no /usr/bin/python3; skipping the Python json check")
	}
	script := `import json, sys
h = json.load(open(sys.argv[1]))
assert list(h.keys()) == [str(i) for i in range(11)], list(h.keys())
assert h["10"] == [3, 0, 1, 2], h["10"]
s = json.load(open(sys.argv[2]))
assert list(s.keys()) == ["qa", "avg_score"], list(s.keys())
assert s["avg_score"] == [0.25, 0.75]
print("ok")`
	out, err := exec.Command(python, "-c", script, filepath.Join(dir, ReferenceHeadFile), filepath.Join(dir, ReferenceLayerFile)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python json check failed: %v\n%s", err, out)
	}
}

func TestExportReferenceUncalibrated(t *testing.T) {
	dir := t.TempDir()
	p := validProfile()
	p.Calibration = nil
	if err := ExportReference(p, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ReferenceLayerFile)); !os.IsNotExist(err) {
		t.Fatalf("layer-score file written for an uncalibrated profile (stat: %v)", err)
	}
	heads, err := os.ReadFile(filepath.Join(dir, ReferenceHeadFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(heads) != `{"0": [0,2,1,3], "1": [3,2,0,1]}`+"\n" {
		t.Fatalf("head file: %s", heads)
	}
}
