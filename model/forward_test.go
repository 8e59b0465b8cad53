package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// tinyConfig is a small config.json; extra holds family-specific keys.
func tinyConfig(family string, hidden, heads, kvHeads, headDim int, extra string) []byte {
	return fmt.Appendf(nil, `{"model_type": %q, "hidden_size": %d, "intermediate_size": 48, "num_hidden_layers": 2,
		"num_attention_heads": %d, "num_key_value_heads": %d, "head_dim": %d, "vocab_size": 97,
		"max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0%s}`, family, hidden, heads, kvHeads, headDim, extra)
}

// loadRandom writes a random checkpoint to a temp folder, loads it with
// Load, and returns it with the float64 reference of the loaded weights.
func loadRandom(t testing.TB, cfgJSON []byte, dtype kernels.DType) (*model.Model, *modeltest.Reference) {
	t.Helper()
	return loadRandomWith(t, cfgJSON, dtype, model.LoadOptions{})
}

// loadRandomWith is loadRandom with load options.
func loadRandomWith(t testing.TB, cfgJSON []byte, dtype kernels.DType, lo model.LoadOptions) (*model.Model, *modeltest.Reference) {
	t.Helper()
	dir := t.TempDir()
	if _, err := modeltest.RandomCheckpoint(dir, cfgJSON, 7, dtype); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, lo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, modeltest.NewReference(m.Config(), m.Weights())
}

func randomIDs(n, vocab int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = rng.IntN(vocab)
	}
	return ids
}

// relErr returns max|got-want| / max(max|want|, 1e-6).
func relErr(got []float32, want []float64) float64 {
	var diff, scale float64
	for i, w := range want {
		diff = math.Max(diff, math.Abs(float64(got[i])-w))
		scale = math.Max(scale, math.Abs(w))
	}
	return diff / math.Max(scale, 1e-6)
}

var families = []struct {
	name  string
	cfg   []byte
	dtype kernels.DType
	// stepwise: a one-token-at-a-time decode matches the one-shot
	// reference (false for dynamic NTK beyond max_position_embeddings).
	stepwise bool
}{
	{"llama GQA untied", tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32, true},
	{"llama tied", tinyConfig("llama", 32, 4, 2, 8, `, "tie_word_embeddings": true`), kernels.F32, true},
	{"llama attention_bias", tinyConfig("llama", 32, 4, 2, 8, `, "attention_bias": true`), kernels.F32, true},
	{"qwen2 qkv bias tied", tinyConfig("qwen2", 32, 4, 1, 8, `, "tie_word_embeddings": true`), kernels.F32, true},
	{"qwen2 untied bf16", tinyConfig("qwen2", 32, 4, 2, 8, ""), kernels.BF16, true},
	{"mistral sliding window 8", tinyConfig("mistral", 32, 4, 2, 8, `, "sliding_window": 8`), kernels.F32, true},
	{"mistral head_dim 16 != hidden/heads", tinyConfig("mistral", 32, 4, 2, 16, `, "sliding_window": null`), kernels.F32, true},
	{"llama3 rope scaling", tinyConfig("llama", 32, 4, 2, 8, `, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 64}`), kernels.F32, true},
	{"linear rope scaling", tinyConfig("llama", 32, 4, 2, 8, `, "rope_scaling": {"type": "linear", "factor": 4}`), kernels.F32, true},
	{"dynamic rope beyond max_pos", []byte(`{"model_type": "llama", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
		"num_key_value_heads": 2, "vocab_size": 97, "max_position_embeddings": 16, "rope_scaling": {"rope_type": "dynamic", "factor": 2}}`), kernels.F32, false},
	{"MHA G == H", tinyConfig("llama", 32, 4, 4, 8, ""), kernels.F32, true},
	{"MQA G == 1", tinyConfig("llama", 32, 4, 1, 8, ""), kernels.F32, true},
	{"bf16 weights", tinyConfig("llama", 32, 4, 2, 8, ""), kernels.BF16, true},
}

// TestFamiliesMatchReference runs every family switch from a real
// checkpoint folder and compares the logits with the float64 reference:
// one-shot prefill, chunked prefill (chunk 7), and prefill + Step decode.
func TestFamiliesMatchReference(t *testing.T) {
	const n, tol = 40, 1e-4
	for _, tt := range families {
		t.Run(tt.name, func(t *testing.T) {
			m, ref := loadRandom(t, tt.cfg, tt.dtype)
			so := model.SessionOptions{Chunk: 64, MaxContext: 64}
			ids := randomIDs(n, m.Config().VocabSize, 3)
			want := ref.Run(ids).Logits
			vocab := m.Config().VocabSize

			got, err := modeltest.NewSession(t, m, so).PrefillAll(t.Context(), ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			for p := range ids {
				if e := relErr(got[p*vocab:(p+1)*vocab], want[p]); e > tol {
					t.Fatalf("one-shot prefill: position %d: relative error %.3g > %g", p, e, tol)
				}
			}
			if !tt.stepwise {
				return
			}
			so.Chunk = 7
			s := modeltest.NewSession(t, m, so)
			got, err = s.PrefillAll(t.Context(), ids[:30], nil)
			if err != nil {
				t.Fatal(err)
			}
			for p := 0; p < 30; p++ {
				if e := relErr(got[p*vocab:(p+1)*vocab], want[p]); e > tol {
					t.Fatalf("chunk 7 prefill: position %d: relative error %.3g > %g", p, e, tol)
				}
			}
			for p := 30; p < n; p++ {
				if err := s.Step(ids[p], nil); err != nil {
					t.Fatal(err)
				}
				if e := relErr(s.Logits(), want[p]); e > tol {
					t.Fatalf("step: position %d: relative error %.3g > %g", p, e, tol)
				}
			}
		})
	}
}

// TestBF16Cache bounds what a bfloat16 KV cache costs: keys and values
// rounded to 8 mantissa bits move the logits by well under 2 %.
func TestBF16Cache(t *testing.T) {
	const tol = 2e-2
	m, ref := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	ids := randomIDs(40, m.Config().VocabSize, 5)
	want := ref.Run(ids).Logits
	got, err := modeltest.NewSession(t, m, model.SessionOptions{CacheDType: model.CacheBF16}).PrefillAll(t.Context(), ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for p := range ids {
		worst = math.Max(worst, relErr(got[p*97:(p+1)*97], want[p]))
	}
	if worst > tol || worst == 0 {
		t.Fatalf("bf16 cache relative error %.3g, want in (0, %g]", worst, tol)
	}
}

func TestTruncateAndReset(t *testing.T) {
	m, ref := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	ids := randomIDs(20, m.Config().VocabSize, 9)
	want := ref.Run(ids).Logits
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	other := randomIDs(15, m.Config().VocabSize, 10)
	if err := s.Prefill(t.Context(), append(append([]int{}, ids[:10]...), other...), nil); err != nil {
		t.Fatal(err)
	}
	s.Truncate(10)
	if s.Len() != 10 || s.Logits() != nil {
		t.Fatalf("after Truncate(10): Len %d, Logits %v", s.Len(), s.Logits() != nil)
	}
	if err := s.Prefill(t.Context(), ids[10:], nil); err != nil {
		t.Fatal(err)
	}
	if e := relErr(s.Logits(), want[19]); e > 1e-4 {
		t.Fatalf("after truncate and refeed: relative error %.3g", e)
	}
	s.Reset()
	if err := s.Prefill(t.Context(), ids, nil); err != nil {
		t.Fatal(err)
	}
	if e := relErr(s.Logits(), want[19]); e > 1e-4 || s.Len() != 20 {
		t.Fatalf("after Reset and refeed: relative error %.3g, Len %d", e, s.Len())
	}
}

func TestGenerate(t *testing.T) {
	m, ref := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	so := model.SessionOptions{MaxContext: 24}
	prompt := randomIDs(5, m.Config().VocabSize, 11)
	got := modeltest.Greedy(t, modeltest.NewSession(t, m, so), prompt, 10, nil)
	// Greedy by the float64 reference, token by token.
	seq := append([]int{}, prompt...)
	for len(seq) < len(prompt)+10 {
		logits := ref.Run(seq).Logits
		last := logits[len(logits)-1]
		best := 0
		for i, v := range last {
			if v > last[best] {
				best = i
			}
		}
		seq = append(seq, best)
	}
	if fmt.Sprint(got) != fmt.Sprint(seq[len(prompt):]) {
		t.Fatalf("Generate = %v, reference greedy = %v", got, seq[len(prompt):])
	}
	// A stop predicate ends generation at (and including) the stop token.
	stopAt := got[3]
	got2 := modeltest.Greedy(t, modeltest.NewSession(t, m, so), prompt, 10, func(id int) bool { return id == stopAt })
	first := 0
	for got[first] != stopAt {
		first++
	}
	if fmt.Sprint(got2) != fmt.Sprint(got[:first+1]) {
		t.Fatalf("with stop %d: %v, want %v", stopAt, got2, got[:first+1])
	}
	// The context (24) caps generation: 20 prompt tokens leave room for 4
	// fed positions, so 5 tokens come out (the last is not fed).
	long := randomIDs(20, m.Config().VocabSize, 12)
	got3 := modeltest.Greedy(t, modeltest.NewSession(t, m, so), long, 10, nil)
	if len(got3) != 5 {
		t.Fatalf("at the context limit: %v; want 5 tokens", got3)
	}
}

func TestArgmax(t *testing.T) {
	for _, tt := range []struct {
		x    []float32
		want int
	}{{nil, -1}, {[]float32{1}, 0}, {[]float32{1, 3, 3, 2}, 1}, {[]float32{-5, -1, -9}, 1}} {
		if got := model.Argmax(tt.x); got != tt.want {
			t.Errorf("Argmax(%v) = %d, want %d", tt.x, got, tt.want)
		}
	}
}
