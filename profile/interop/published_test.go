package interop

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Lines as the projects publish them (copied from the files docs/interop.md
// cites), so the readers are tested on the real layout, not only on ours.
func TestImportPublishedLayouts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	m := handModel

	// DuoAttention, Mistral-7B-Instruct-v0.2: the first two rows of
	// full_attention_heads.tsv (8 KV heads; trained gates slightly below 0
	// are clipped to 0 as load_attn_pattern does).
	duo := write("full_attention_heads.tsv",
		"-9.584426879882812500e-05\t-1.196861267089843750e-04\t5.585937500000000000e-01\t2.021789550781250000e-04\t1.000000000000000000e+00\t1.000000000000000000e+00\t1.000000000000000000e+00\t7.343750000000000000e-01\n"+
			"1.000000000000000000e+00\t7.812500000000000000e-01\t9.687500000000000000e-01\t4.277343750000000000e-01\t1.000000000000000000e+00\t8.359375000000000000e-01\t1.000000000000000000e+00\t1.000000000000000000e+00\n")
	write("config.json", `{"model_name": "models/Mistral-7B-Instruct-v0.2", "sink_size": 128, "recent_size": 256, "threshold": 0.5}`)
	m.Layers, m.Heads, m.KVHeads = 2, 32, 8
	p, w, err := Import(duo, FormatDuo, m)
	if err != nil || len(w) != 0 {
		t.Fatalf("%v %q", err, w)
	}
	if want := [][]float64{{0, 0, 0.55859375, 0.0002021789550781250, 1, 1, 1, 0.734375}, {1, 0.78125, 0.96875, 0.427734375, 1, 0.8359375, 1, 1}}; !reflect.DeepEqual(p.Heads.KV.SRHMax, want) {
		t.Errorf("pattern %v", p.Heads.KV.SRHMax)
	}
	if want := []int{4, 5, 6, 7, 2, 3, 0, 1}; !reflect.DeepEqual(p.Heads.KV.Ranking[0], want) {
		t.Errorf("KV ranking of layer 0: %v, want %v", p.Heads.KV.Ranking[0], want)
	}

	// QRHead, Llama-3.1-8B-Instruct_qr_head.yaml, with its trailing comment.
	qr := write("qr.yaml", `# Default configuration for QRRetriever

attn_head_set: "14-22,13-16,14-28,14-31,16-19,14-1,16-26,17-24,14-0,13-0,16-25,13-12,13-1,13-10,17-27,20-14" # NQHELDOUT0_ORDER600_top16 qr heads
model_base_class: "Llama-3.1-8B-Instruct"
model_name_or_path: "meta-llama/Llama-3.1-8B-Instruct"`)
	m.Layers, m.Heads, m.KVHeads = 32, 32, 8
	p, _, err = Import(qr, FormatQRHead, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Heads.Ranking[14][:5]; !reflect.DeepEqual(got, []int{22, 28, 31, 1, 0}) {
		t.Errorf("layer 14 starts %v, want the listed 22, 28, 31, 1, 0", got)
	}
	if p.Heads.SRH[14][22] != 1 || p.Heads.SRH[20][14] != 1.0/16 || p.Heads.SRH[0][0] != 0 {
		t.Errorf("scores %v %v %v", p.Heads.SRH[14][22], p.Heads.SRH[20][14], p.Heads.SRH[0][0])
	}

	// Retrieval_Head: ints for heads that never copied, floats 1/(e-s) sums.
	hk := write("llama.json", `{"0-0": [0, 0.047619047619047616, 0], "0-1": [1.0, 0], "1-0": [0, 0], "1-1": [0.5]}`)
	m.Layers, m.Heads, m.KVHeads = 2, 2, 1
	p, _, err = Import(hk, FormatHeadKV, m)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]float64{{0.047619047619047616 / 3, 0.5}, {0, 0.5}}; !reflect.DeepEqual(p.Heads.SRH, want) {
		t.Errorf("means %v, want %v", p.Heads.SRH, want)
	}
}
