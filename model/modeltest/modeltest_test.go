package modeltest

import (
	"math"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
)

func TestInvFreq(t *testing.T) {
	base := model.Config{HeadDim: 4, RopeTheta: 10000, MaxPositionEmbeddings: 16}
	// llama3: original 64, low 1 (wavelen 64), high 4 (wavelen 16), factor 8.
	// d = 8: inv = 1, 0.1, 0.01, 0.001 -> wavelen 6.28 (kept), 62.8 (smoothed),
	// 628 and 6283 (divided by 8).
	smooth := (64/(2*math.Pi/0.1) - 1) / 3
	tests := []struct {
		name    string
		scaling *model.RopeScaling
		dim     int
		seqLen  int
		want    []float64
	}{
		{"default", nil, 4, 8, []float64{1, 0.01}},
		{"linear", &model.RopeScaling{Type: "linear", Factor: 2}, 4, 8, []float64{0.5, 0.005}},
		{"dynamic within max_pos", &model.RopeScaling{Type: "dynamic", Factor: 2}, 4, 16, []float64{1, 0.01}},
		// seqLen 32 = 2*max_pos: base = 10000 * (2*2 - 1)^(4/2) = 90000.
		{"dynamic beyond max_pos", &model.RopeScaling{Type: "dynamic", Factor: 2}, 4, 32, []float64{1, 1 / 300.0}},
		{"llama3", &model.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64}, 8, 8,
			[]float64{1, (1-smooth)*0.1/8 + smooth*0.1, 0.01 / 8, 0.001 / 8}},
	}
	for _, tt := range tests {
		cfg := base
		cfg.HeadDim, cfg.RopeScaling = tt.dim, tt.scaling
		got := InvFreq(&cfg, tt.seqLen)
		for i := range tt.want {
			if math.Abs(got[i]-tt.want[i]) > 1e-12*math.Max(1, tt.want[i]) {
				t.Errorf("%s: inv_freq %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

// TestCheckpointRoundTrip: a written checkpoint loads back to the same
// weights (bf16 bits kept exactly), and RandomCheckpoint is deterministic.
func TestCheckpointRoundTrip(t *testing.T) {
	cfgJSON := []byte(`{"model_type": "qwen2", "hidden_size": 16, "intermediate_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 11}`)
	cfg, err := model.ParseConfig(cfgJSON, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := RandomCheckpoint(dir, cfgJSON, 5, kernels.BF16); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := model.RandomWeights(cfg, kernels.BF16, 5)
	got := m.Weights()
	if !slices.Equal(got.Layers[1].KProj.U16, want.Layers[1].KProj.U16) || got.EmbedTokens.DType != kernels.BF16 {
		t.Fatal("k_proj of layer 1 changed through the checkpoint")
	}
	// Vectors are stored as bf16 like the matrices: equal after rounding.
	for i, v := range want.Layers[0].QBias {
		if got.Layers[0].QBias[i] != kernels.BF16ToFloat32(kernels.Float32ToBF16(v)) {
			t.Fatalf("q_proj.bias[%d] = %v, want bf16(%v)", i, got.Layers[0].QBias[i], v)
		}
	}
	if slices.Equal(want.Layers[0].QProj.U16, want.Layers[1].QProj.U16) {
		t.Fatal("layers share random weights")
	}
}

// TestReferenceHandExample: one position attends only to itself, so the
// attention output is exactly its value vector and the row is [1].
func TestReferenceHandExample(t *testing.T) {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "hidden_size": 8, "intermediate_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 5}`), "c")
	if err != nil {
		t.Fatal(err)
	}
	r := NewReference(*cfg, model.RandomWeights(cfg, kernels.F32, 1))
	tr := r.Run([]int{3, 1})
	if tr.Probs[0][1][0][0] != 1 || tr.Probs[0][1][0][1] != 0 {
		t.Fatalf("first row %v, want [1 0]", tr.Probs[0][1][0])
	}
	for h := 0; h < 2; h++ {
		for e := 0; e < 4; e++ {
			if tr.Output[0][0][h*4+e] != tr.Values[0][0][e] {
				t.Fatalf("head %d: output %v, value %v", h, tr.Output[0][0], tr.Values[0][0])
			}
		}
	}
	pre, _ := r.AttendSubset(tr, 0, 1, []int{1})
	for h := 0; h < 2; h++ {
		for e := 0; e < 4; e++ {
			if pre[h*4+e] != tr.Values[0][1][e] {
				t.Fatalf("subset {1}: output %v, value %v", pre, tr.Values[0][1])
			}
		}
	}
}
