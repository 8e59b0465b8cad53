package safetensors

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/internal/half"
	"github.com/compresskv/compresskv/internal/testshared"
)

// TestSharedStories opens the real stories260K checkpoints and checks names,
// shapes, and that the bf16 folder holds the f32 weights rounded to bf16.
func TestSharedStories(t *testing.T) {
	dirF32 := testshared.Require(t, "models/stories260K-f32")
	dirBF16 := testshared.Require(t, "models/stories260K-bf16")
	f32, err := OpenDir(dirF32)
	if err != nil {
		t.Fatal(err)
	}
	defer f32.Close()
	bf16, err := OpenDir(dirBF16)
	if err != nil {
		t.Fatal(err)
	}
	defer bf16.Close()

	// 5 layers x 9 tensors + embed_tokens + norm; embeddings are tied, so
	// there is no lm_head.weight.
	if n := len(f32.Names()); n != 47 {
		t.Errorf("f32 checkpoint has %d tensors, want 47", n)
	}
	if !slices.Equal(f32.Names(), bf16.Names()) {
		t.Errorf("f32 and bf16 checkpoints name different tensors")
	}
	shapes := map[string][]int{
		"model.embed_tokens.weight":                      {512, 64},
		"model.norm.weight":                              {64},
		"model.layers.0.self_attn.q_proj.weight":         {64, 64},
		"model.layers.0.self_attn.k_proj.weight":         {32, 64}, // 4 kvHeads x head_dim 8
		"model.layers.4.self_attn.v_proj.weight":         {32, 64},
		"model.layers.2.mlp.down_proj.weight":            {64, 172},
		"model.layers.3.mlp.gate_proj.weight":            {172, 64},
		"model.layers.1.post_attention_layernorm.weight": {64},
	}
	for name, shape := range shapes {
		for _, s := range []*Set{f32, bf16} {
			info, ok := s.Info(name)
			if !ok || !slices.Equal(info.Shape, shape) {
				t.Errorf("%s: %s shape %v (found %v), want %v", s.dir, name, info.Shape, ok, shape)
			}
		}
		a, _ := f32.Tensor(name)
		b, _ := bf16.Tensor(name)
		if a.DType != F32 || b.DType != BF16 {
			t.Fatalf("%s: dtypes %s and %s, want F32 and BF16", name, a.DType, b.DType)
		}
		full, err := a.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := b.Uint16View()
		if !ok {
			t.Fatalf("%s: no aligned BF16 view", name)
		}
		for i, v := range full {
			if want := half.Float32ToBF16(v); raw[i] != want {
				t.Fatalf("%s[%d]: bf16 %#04x, want %#04x (f32 %g rounded)", name, i, raw[i], want, v)
			}
		}
	}
	if meta := f32.Files()[0].Metadata(); meta != nil && meta["format"] != "" && meta["format"] != "pt" {
		t.Errorf("metadata format %q", meta["format"])
	}
}

func TestSharedReference(t *testing.T) {
	dir := testshared.Require(t, "models/stories260K-f32")
	f, err := Open(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, err := f.Tensor("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	logits, err := f.Tensor("logits")
	if err != nil {
		t.Fatal(err)
	}
	if ids.DType != I32 || !slices.Equal(ids.Shape, []int{256}) {
		t.Errorf("input_ids: %s %v, want I32 [256]", ids.DType, ids.Shape)
	}
	if logits.DType != F32 || !slices.Equal(logits.Shape, []int{256, 512}) {
		t.Fatalf("logits: %s %v, want F32 [256 512]", logits.DType, logits.Shape)
	}
	tokens, err := ids.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	all, err := logits.Float32s() // [256, 512]
	if err != nil {
		t.Fatal(err)
	}
	cols := logits.Shape[1]
	// The reference decoded greedily from BOS: input_ids[t+1] is the argmax
	// of logits[t].
	if tokens[0] != 1 {
		t.Errorf("input_ids[0] = %d, want BOS (1)", tokens[0])
	}
	for pos := 0; pos+1 < len(tokens); pos++ {
		row := all[pos*cols : (pos+1)*cols]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if int64(best) != tokens[pos+1] {
			t.Fatalf("argmax(logits[%d]) = %d, input_ids[%d] = %d", pos, best, pos+1, tokens[pos+1])
		}
	}
}
