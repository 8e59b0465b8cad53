package model_test

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/safetensors"
)

// writeEdited writes a random checkpoint whose tensor list edit changes.
func writeEdited(t *testing.T, cfgJSON []byte, edit func([]safetensors.WriteTensor) []safetensors.WriteTensor) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := model.ParseConfig(cfgJSON, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	tensors := edit(modeltest.Tensors(cfg, model.RandomWeights(cfg, kernels.F32, 1)))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfgJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	cfg := tinyConfig("llama", 32, 4, 2, 8, "")
	drop := func(name string) func([]safetensors.WriteTensor) []safetensors.WriteTensor {
		return func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
			var out []safetensors.WriteTensor
			for _, x := range ts {
				if x.Name != name {
					out = append(out, x)
				}
			}
			return out
		}
	}
	replace := func(name string, with safetensors.WriteTensor) func([]safetensors.WriteTensor) []safetensors.WriteTensor {
		return func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
			for i := range ts {
				if ts[i].Name == name {
					with.Name = name
					ts[i] = with
				}
			}
			return ts
		}
	}
	add := func(extra ...safetensors.WriteTensor) func([]safetensors.WriteTensor) []safetensors.WriteTensor {
		return func(ts []safetensors.WriteTensor) []safetensors.WriteTensor { return append(ts, extra...) }
	}
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		want []string
	}{
		{"missing config.json", func(t *testing.T) string { return t.TempDir() }, []string{"config.json", "no such file"}},
		{"unknown model_type", func(t *testing.T) string {
			return writeEdited(t, cfg, func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
				return ts
			})
		}, nil}, // replaced below
		{"missing tensor", func(t *testing.T) string { return writeEdited(t, cfg, drop("model.layers.1.mlp.up_proj.weight")) },
			[]string{`tensor "model.layers.1.mlp.up_proj.weight": missing (config wants shape [48 32])`}},
		{"missing lm_head when untied", func(t *testing.T) string { return writeEdited(t, cfg, drop("lm_head.weight")) },
			[]string{`tensor "lm_head.weight": missing`}},
		{"wrong shape", func(t *testing.T) string {
			return writeEdited(t, cfg, replace("model.layers.0.self_attn.k_proj.weight",
				safetensors.WriteTensor{DType: safetensors.F32, Shape: []int{32, 32}, Data: make([]byte, 32*32*4)}))
		}, []string{`tensor "model.layers.0.self_attn.k_proj.weight": shape [32 32], config wants [16 32]`}},
		{"integer weight", func(t *testing.T) string {
			return writeEdited(t, cfg, replace("model.norm.weight",
				safetensors.WriteTensor{DType: safetensors.I32, Shape: []int{32}, Data: make([]byte, 32*4)}))
		}, []string{`tensor "model.norm.weight": dtype I32, want F32, F16 or BF16`}},
		{"o_proj bias the config does not explain", func(t *testing.T) string {
			return writeEdited(t, cfg, add(f32Tensor("model.layers.1.self_attn.o_proj.bias", 32)))
		}, []string{`model.safetensors: tensor "model.layers.1.self_attn.o_proj.bias": not used by the config (llama, 2 layers, q/k/v bias false, o_proj bias false`}},
		{"o_proj bias on qwen2", func(t *testing.T) string {
			return writeEdited(t, tinyConfig("qwen2", 32, 4, 2, 8, ""), add(f32Tensor("model.layers.0.self_attn.o_proj.bias", 32)))
		}, []string{`tensor "model.layers.0.self_attn.o_proj.bias": not used by the config (qwen2, 2 layers, q/k/v bias true, o_proj bias false`}},
		{"a layer past num_hidden_layers", func(t *testing.T) string {
			return writeEdited(t, cfg, add(f32Tensor("model.layers.2.input_layernorm.weight", 32)))
		}, []string{`tensor "model.layers.2.input_layernorm.weight": not used by the config`}},
		{"tied lm_head of the wrong shape", func(t *testing.T) string {
			return writeEdited(t, tinyConfig("llama", 32, 4, 2, 8, `, "tie_word_embeddings": true`), add(
				safetensors.WriteTensor{Name: "lm_head.weight", DType: safetensors.F32, Shape: []int{96, 32}, Data: make([]byte, 96*32*4)}))
		}, []string{`tensor "lm_head.weight": shape [96 32], config wants [97 32] (tied to the embedding)`}},
	}
	tests[1].dir = func(t *testing.T) string {
		dir := writeEdited(t, cfg, func(ts []safetensors.WriteTensor) []safetensors.WriteTensor { return ts })
		bad := strings.Replace(string(cfg), `"llama"`, `"qwen3"`, 1)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests[1].want = []string{"config.json", `model_type "qwen3" is not supported (supported: llama, mistral, qwen2)`}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			_, err := model.Load(dir, model.LoadOptions{})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	s := modeltest.NewSession(t, m, model.SessionOptions{MaxContext: 16})
	if err := s.Prefill(t.Context(), make([]int, 17), nil); err == nil || err.Error() != "prompt of 17 tokens exceeds the model context of 16" {
		t.Fatalf("long prompt: %v", err)
	}
	if err := s.Prefill(t.Context(), make([]int, 16), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Step(0, nil); err == nil || !strings.Contains(err.Error(), "sequence of 17 tokens (16 cached + 1 new) exceeds the model context of 16") {
		t.Fatalf("step past the context: %v", err)
	}
	s.Reset()
	if err := s.Prefill(t.Context(), []int{1, 97}, nil); err == nil || !strings.Contains(err.Error(), "token id 97 at index 1 is outside the vocabulary of 97") {
		t.Fatalf("bad id: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("failed Prefill left %d positions", s.Len())
	}
	if _, err := s.Decode(t.Context(), model.DecodeOptions{MaxNew: 3}); err == nil {
		t.Fatal("Decode from nothing succeeded")
	}
	cfg := m.Config()
	if _, err := model.New(&cfg, &model.Weights{}, model.LoadOptions{}); err == nil {
		t.Fatal("New accepted empty weights")
	}
	if _, err := m.NewSession(model.SessionOptions{Chunk: -1}); err == nil || !strings.Contains(err.Error(), "prefill chunk -1") {
		t.Fatalf("a negative chunk: %v", err)
	}
	if _, err := m.NewSession(model.SessionOptions{CacheDType: 7}); err == nil || !strings.Contains(err.Error(), "want f32 or bf16") {
		t.Fatalf("an unknown cache dtype: %v", err)
	}
}

// TestNaNWeight: a NaN in layer 1's MLP is reported with the layer and the
// first position, and the session is rolled back.
func TestNaNWeight(t *testing.T) {
	cfg, err := model.ParseConfig(tinyConfig("llama", 32, 4, 2, 8, ""), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	w := model.RandomWeights(cfg, kernels.F32, 2)
	w.Layers[1].DownProj.F32[5] = float32(math.NaN())
	dir := t.TempDir()
	if err := modeltest.WriteCheckpoint(dir, cfg, w); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := modeltest.NewSession(t, m, model.SessionOptions{Chunk: 4})
	err = s.Prefill(t.Context(), []int{1, 2, 3, 4, 5, 6}, nil)
	if err == nil || !strings.Contains(err.Error(), "layer 1, position 0: hidden state is not finite") {
		t.Fatalf("err = %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("failed Prefill left %d positions", s.Len())
	}

	// A NaN embedding row poisons only the token that reads it; after the
	// error, shorter chunks must not trip over the stale rows of the longer one.
	w = model.RandomWeights(cfg, kernels.F32, 2)
	w.EmbedTokens.F32[5*cfg.HiddenSize+3] = float32(math.NaN())
	m2, err := model.New(cfg, w, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s = modeltest.NewSession(t, m2, model.SessionOptions{})
	if err := s.Prefill(t.Context(), []int{1, 2, 5, 6}, nil); err == nil || !strings.Contains(err.Error(), "layer 0, position 2:") {
		t.Fatalf("NaN embedding: err = %v", err)
	}
	if err := s.Prefill(t.Context(), []int{1, 2}, nil); err != nil {
		t.Fatalf("after the error: %v", err)
	}
	if err := s.Step(3, nil); err != nil {
		t.Fatalf("step after the error: %v", err)
	}
}

// TestPrefillMemoryLinear: prefill memory grows linearly with the prompt
// (the KV cache plus O(chunk) scratch), never with tokens².
func TestPrefillMemoryLinear(t *testing.T) {
	cfgJSON := []byte(`{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
		"num_key_value_heads": 1, "vocab_size": 64, "max_position_embeddings": 8192, "sliding_window": null}`)
	cfg, err := model.ParseConfig(cfgJSON, "config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, model.RandomWeights(cfg, kernels.F32, 1), model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(n int) uint64 {
		ids := randomIDs(n, cfg.VocabSize, 1)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := modeltest.NewSession(t, m, model.SessionOptions{Chunk: 256}).Prefill(t.Context(), ids, nil); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := alloc(1024), alloc(4096)
	ratio := float64(large) / float64(small)
	t.Logf("allocated %d bytes for 1K tokens, %d for 4K: ratio %.2f", small, large, ratio)
	if ratio >= 6 {
		t.Fatalf("4K/1K allocation ratio %.2f >= 6 (quadratic would be 16): prefill memory grows faster than linearly", ratio)
	}
}

// f32Tensor is a zero F32 vector tensor [n] named name.
func f32Tensor(name string, n int) safetensors.WriteTensor {
	return safetensors.WriteTensor{Name: name, DType: safetensors.F32, Shape: []int{n}, Data: make([]byte, 4*n)}
}

// TestLoadIgnoresWhatTransformersIgnores: stored rotary_emb.inv_freq buffers
// and a stored lm_head of a tied model load (transformers recomputes the
// one and ties over the other) and change no logit.
func TestLoadIgnoresWhatTransformersIgnores(t *testing.T) {
	cfg := tinyConfig("llama", 32, 4, 2, 8, `, "tie_word_embeddings": true`)
	ids := []int{3, 1, 4, 1, 5, 9, 2, 6}
	logits := func(dir string) []float32 {
		t.Helper()
		m, err := model.Load(dir, model.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		out, err := modeltest.NewSession(t, m, model.SessionOptions{}).PrefillAll(t.Context(), ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain := logits(writeEdited(t, cfg, func(ts []safetensors.WriteTensor) []safetensors.WriteTensor { return ts }))
	buffers := logits(writeEdited(t, cfg, func(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
		// Wrong values on purpose: they must not be read.
		inv := f32Tensor("model.layers.0.self_attn.rotary_emb.inv_freq", 4)
		head := safetensors.WriteTensor{Name: "lm_head.weight", DType: safetensors.F32, Shape: []int{97, 32}, Data: make([]byte, 97*32*4)}
		return append(ts, inv, f32Tensor("model.layers.1.self_attn.rotary_emb.inv_freq", 4), head)
	}))
	if maxAbsDiff(plain, buffers) != 0 {
		t.Fatalf("stored inv_freq / tied lm_head changed the logits by %g", maxAbsDiff(plain, buffers))
	}
}
