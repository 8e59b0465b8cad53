package interop

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/profile/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// handProfile is a small hand-made profile: 3 layers, 4 query heads, 2 KV
// heads (query heads 2g and 2g+1 read KV head g). Layer 0 has a tie
// (heads 0 and 2 score 0.5); layer 2's two KV heads tie on srh_max and
// only srh_mean (0.25 vs 0.5) orders them.
func handProfile(t *testing.T) *schema.Profile {
	t.Helper()
	srh := [][]float64{{0.5, 0.25, 0.5, 0}, {0, 0, 0.125, 1}, {0.5, 0, 0.5, 0.5}}
	ret := [][]float64{{0, 0, 0, 0}, {0.5, 0, 0, 0.5}, {0, 1e-05, 0, 0}}
	kv, err := schema.KVView(srh, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := &schema.Profile{
		Schema: schema.Version,
		Tool:   schema.Tool{Name: "compresskv", Version: "test"},
		Model: schema.Model{Architecture: "llama", Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 8,
			Fingerprint: "sha256:00", ID: "acme/tiny-llm", Revision: "main", Commit: strings.Repeat("0", 40)},
		Probes: schema.ProbeInfo{Scoring: "greedy", SkipReasons: map[string]int{}, SuccessRecall: 0.5},
		Heads: schema.Heads{
			SRH: srh, Retrieval: ret,
			Ranking:          [][]int{{0, 2, 1, 3}, {3, 2, 0, 1}, {0, 2, 3, 1}},
			RetrievalRanking: [][]int{{0, 1, 2, 3}, {0, 3, 1, 2}, {1, 0, 2, 3}},
			KV:               kv,
		},
		Calibration: &schema.Calibration{
			Budget: 32, Window: 8, Kernel: 5, Pooling: "avg", TopK: 2, Floor: 32, CeilingFactor: 3,
			Datasets:    []schema.DatasetScore{{Name: "qa", Prompts: 2, Steps: 10, LayerErrors: []float64{1, 2, 1}, LayerScores: []float64{0.25, 0.5, 0.25}}},
			LayerScores: []float64{0.25, 0.5, 0.25},
			Budgets:     map[string][]int{"64": {48, 96, 48}},
		},
	}
	if err := schema.Validate(p); err != nil {
		t.Fatal(err)
	}
	return p
}

var handModel = schema.Model{Architecture: "llama", Layers: 3, Heads: 4, KVHeads: 2, HeadDim: 8}

func exportAll(t *testing.T, f Format, o ExportOptions) (string, Result) {
	t.Helper()
	dir := t.TempDir()
	r, err := Export(handProfile(t), f, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return dir, r
}

// TestGolden compares every exported file with testdata/golden/<format>/
// (go test -update rewrites them); the small text files are also spelled
// out here, by hand, in the layout each project's own code writes.
func TestGolden(t *testing.T) {
	literal := map[string]string{
		"headkv/" + HeadKVFile: `{"0-0": [0.5], "0-1": [0.25], "0-2": [0.5], "0-3": [0.0], "1-0": [0.0], "1-1": [0.0], "1-2": [0.125], "1-3": [1.0], "2-0": [0.5], "2-1": [0.0], "2-2": [0.5], "2-3": [0.5]}`,
		// srh_max per KV head: {0.5, 0.5}, {0, 1}, {0.5, 0.5}; over the largest (1).
		"duo/" + DuoHeadsFile: "5.000000000000000000e-01\t5.000000000000000000e-01\n" +
			"0.000000000000000000e+00\t1.000000000000000000e+00\n" +
			"5.000000000000000000e-01\t5.000000000000000000e-01\n",
		"duo/" + DuoConfigFile:        `{"sink_size": 128, "recent_size": 256}`,
		"kvpress/" + KVPressPressFile: `{"sink_size": 64, "recent_size": 512}` + "\n",
		// 1 - 96/1000 is 0.904, but int(1000 * (1 - 0.904)) is 95 in float64:
		// the ratio one ulp below keeps exactly 96.
		"kvpress/" + KVPressRatiosFile: `{"prompt_length": 1000, "average_budget": 64, "budgets": [48, 96, 48], "compression_ratios": [0.952, 0.9039999999999999, 0.952]}` + "\n",
		"qrhead/" + QRHeadFile: "# compresskv: the top 4 (layer-query head) pairs by srh, best first\n" +
			"attn_head_set: \"1-3,0-0,0-2,2-0\"\n" +
			"model_base_class: \"tiny-llm\"\nmodel_name_or_path: \"acme/tiny-llm\"\n",
		"ref/head_idx.json":     `{"0": [0,2,1,3], "1": [3,2,0,1], "2": [0,2,3,1]}` + "\n",
		"ref/layer_score.jsonl": "{\n  \"qa\": [0.25,0.5,0.25],\n  \"avg_score\": [0.25,0.5,0.25]\n}\n",
	}
	opts := map[Format]ExportOptions{
		FormatKVPress: {SinkSize: 64, RecentSize: 512, Ratios: &Ratios{PromptLength: 1000, Average: 64, Budgets: []int{48, 96, 48}}},
		FormatQRHead:  {TopPairs: 4},
	}
	for _, f := range Formats {
		dir, r := exportAll(t, f, opts[f])
		if len(r.Files) == 0 {
			t.Fatalf("%s: nothing written", f)
		}
		for _, path := range r.Files {
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rel := string(f) + "/" + filepath.Base(path)
			golden := filepath.Join("testdata", "golden", filepath.FromSlash(rel))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", path, golden, got)
			}
			if lit, ok := literal[rel]; ok && string(got) != lit {
				t.Errorf("%s:\ngot  %q\nwant %q", rel, got, lit)
			}
			delete(literal, rel)
		}
		_ = dir
	}
	for rel := range literal {
		t.Errorf("%s was not written", rel)
	}
}

func TestPyFloat(t *testing.T) {
	for x, want := range map[float64]string{
		0: "0.0", 1: "1.0", 0.5: "0.5", 0.1: "0.1", 1.0 / 3: "0.3333333333333333", 1e-4: "0.0001", 1e-5: "1e-05",
		1.5e-7: "1.5e-07", 123456789012345.0: "123456789012345.0", 1e15: "1000000000000000.0", 1e16: "1e+16",
		-2.5: "-2.5", 0.045454545454545456: "0.045454545454545456", 1e100: "1e+100",
	} {
		if got := pyFloat(x); got != want {
			t.Errorf("pyFloat(%v) = %q, Python's repr gives %q", x, got, want)
		}
	}
}

// TestRoundTrips: export then import, per format, and what survives.
func TestRoundTrips(t *testing.T) {
	orig := handProfile(t)
	imp := func(f Format, path string) *schema.Profile {
		t.Helper()
		p, _, err := Import(path, f, handModel)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := schema.Validate(p); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if p.Probes.Scoring != "imported:"+string(f) || !IsImported(p) {
			t.Errorf("%s: scoring %q", f, p.Probes.Scoring)
		}
		return p
	}

	// ref and headkv keep every layer's query-head ranking; headkv also the scores.
	dir, _ := exportAll(t, FormatRef, ExportOptions{})
	if p := imp(FormatRef, dir); !reflect.DeepEqual(p.Heads.Ranking, orig.Heads.Ranking) {
		t.Errorf("ref: ranking %v, want %v", p.Heads.Ranking, orig.Heads.Ranking)
	}
	dir, _ = exportAll(t, FormatHeadKV, ExportOptions{})
	if p := imp(FormatHeadKV, filepath.Join(dir, HeadKVFile)); !reflect.DeepEqual(p.Heads.Ranking, orig.Heads.Ranking) ||
		!reflect.DeepEqual(p.Heads.SRH, orig.Heads.SRH) || !reflect.DeepEqual(p.Heads.KV, orig.Heads.KV) {
		t.Errorf("headkv: srh %v ranking %v", p.Heads.SRH, p.Heads.Ranking)
	}
	dir, _ = exportAll(t, FormatHeadKV, ExportOptions{Score: "retrieval"})
	if p := imp(FormatHeadKV, dir); !reflect.DeepEqual(p.Heads.Ranking, orig.Heads.RetrievalRanking) {
		t.Errorf("headkv --score retrieval: ranking %v, want %v", p.Heads.Ranking, orig.Heads.RetrievalRanking)
	}

	// duo and kvpress keep one value per KV head: the KV-head order by
	// srh_max survives; the srh_mean tie-break (layer 2: [1 0]) does not,
	// nor the query-head order inside a group (tied, so index order).
	for _, f := range []Format{FormatDuo, FormatKVPress} {
		dir, _ := exportAll(t, f, ExportOptions{})
		p := imp(f, dir)
		if want := [][]int{{0, 1}, {1, 0}, {0, 1}}; !reflect.DeepEqual(p.Heads.KV.Ranking, want) {
			t.Errorf("%s: KV ranking %v, want %v", f, p.Heads.KV.Ranking, want)
		}
		if !reflect.DeepEqual(p.Heads.KV.SRHMax, [][]float64{{0.5, 0.5}, {0, 1}, {0.5, 0.5}}) {
			t.Errorf("%s: srh_max %v", f, p.Heads.KV.SRHMax)
		}
		if want := [][]int{{0, 1, 2, 3}, {2, 3, 0, 1}, {0, 1, 2, 3}}; !reflect.DeepEqual(p.Heads.Ranking, want) {
			t.Errorf("%s: query ranking %v, want %v", f, p.Heads.Ranking, want)
		}
	}

	// qrhead keeps the top pairs only: in each layer, the listed heads come
	// first in their listed order, then the rest by index.
	dir, _ = exportAll(t, FormatQRHead, ExportOptions{TopPairs: 4})
	p := imp(FormatQRHead, filepath.Join(dir, QRHeadFile))
	if want := [][]int{{0, 2, 1, 3}, {3, 0, 1, 2}, {0, 1, 2, 3}}; !reflect.DeepEqual(p.Heads.Ranking, want) {
		t.Errorf("qrhead: ranking %v, want %v", p.Heads.Ranking, want)
	}
	for l, row := range orig.Heads.Ranking {
		listed := map[int][]int{0: {0, 2}, 1: {3}, 2: {0}}[l]
		if !reflect.DeepEqual(p.Heads.Ranking[l][:len(listed)], listed) || !reflect.DeepEqual(row[:len(listed)], listed) {
			t.Errorf("qrhead: layer %d prefix %v, original %v, listed %v", l, p.Heads.Ranking[l], row, listed)
		}
	}
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		f          Format
		name, data string
		want       string
	}{
		{FormatHeadKV, "small.json", `{"0-0": [1], "0-1": [1]}`, "small.json: scores for 1 layers x 2 query heads, but the model has 3 layers x 4 query heads (2 KV heads)"},
		{FormatHeadKV, "hole.json", `{"0-0": [1], "2-3": [1]}`, `hole.json: no key "0-1"`},
		{FormatHeadKV, "empty.json", `{"0-0": []}`, `key "0-0" has no scores`},
		{FormatHeadKV, "key.json", `{"a": [1]}`, `key "a": want "<layer>-<head>"`},
		{FormatDuo, "q.tsv", "1\t1\t1\t1\n1\t1\t1\t1\n1\t1\t1\t1\n", "q.tsv: a 3 x 4 pattern, but the model has 3 layers x 4 query heads (2 KV heads): want 3 rows (layers) x 2 columns (KV heads) (one column per query head?"},
		{FormatDuo, "nan.tsv", "1\tx\n", `nan.tsv:1: column 2: "x" is not a finite number`},
		{FormatRef, "ref.json", `{"0": [0, 1, 2, 3]}`, "ref.json: rankings for 1 layers"},
		{FormatRef, "ref2.json", `{"0": [0, 9], "1": [], "2": []}`, "ref2.json: layer 0 lists head 9, but the model has 4 query heads"},
		{FormatQRHead, "full.yaml", `attn_head_set: "full_heads"`, "full.yaml: attn_head_set is full_heads"},
		{FormatQRHead, "big.yaml", `attn_head_set: "1-2,31-0"`, `big.yaml: attn_head_set item 2 "31-0" is outside the model's 3 layers x 4 query heads`},
		{FormatQRHead, "none.yaml", `model_base_class: x`, "none.yaml: no attn_head_set key"},
		{FormatKVPress, "p.npy", "junk", "p.npy: not a NumPy .npy file"},
	} {
		_, _, err := Import(write(tc.name, tc.data), tc.f, handModel)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %s: got %v, want one line containing %q", tc.f, tc.name, err, tc.want)
		}
	}
	npy, _ := MarshalNPY([][]float64{{1, 0, 1, 0}, {1, 0, 1, 0}, {1, 0, 1, 0}})
	if _, _, err := Import(write("wide.npy", string(npy)), FormatKVPress, handModel); err == nil || !strings.Contains(err.Error(), "wide.npy: a 3 x 4 pattern") {
		t.Errorf("kvpress with one column per query head: %v", err)
	}
}

func TestImportWarnings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "order.json")
	data := `{"0-1": [0], "0-0": [0], "0-2": [0], "0-3": [0], "1-0": [0], "1-1": [0], "1-2": [0], "1-3": [0], "2-0": [0], "2-1": [0], "2-2": [0], "2-3": [0]}`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, w, err := Import(path, FormatHeadKV, handModel)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 2 || !strings.Contains(w[0], `not in layer-major order (key 0 is "0-1")`) || !strings.Contains(w[1], "every score is 0") {
		t.Errorf("warnings %q", w)
	}
	zero := handProfile(t)
	for l := range zero.Heads.SRH {
		for h := range zero.Heads.SRH[l] {
			zero.Heads.SRH[l][h] = 0
		}
	}
	zero.Heads.KV = nil
	r, err := Export(zero, FormatHeadKV, t.TempDir(), ExportOptions{})
	if err != nil || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "HeadKV divides the scores by their sum") {
		t.Errorf("all-zero export: %v %q", err, r.Warnings)
	}
}

func TestCompressionRatio(t *testing.T) {
	for _, tc := range []struct{ budget, n int }{{256, 1000}, {100, 300}, {1, 3}, {7, 10}, {29, 100}, {2047, 4096}, {0, 5}} {
		r := CompressionRatio(tc.budget, tc.n)
		if kept := int(float64(tc.n) * (1 - r)); kept != tc.budget || r < 0 || r > 1 {
			t.Errorf("budget %d of %d: ratio %v keeps %d", tc.budget, tc.n, r, kept)
		}
	}
	if r := CompressionRatio(2000, 1000); r != 0 {
		t.Errorf("a budget above the prompt length: ratio %v, want 0", r)
	}
}

func FuzzImportHeadKV(f *testing.F) {
	f.Add([]byte(`{"0-0": [0.5], "0-1": [1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = importHeadKV(data, "fuzz.json", Shape{Layers: 1, Heads: 2, KVHeads: 1})
	})
}
