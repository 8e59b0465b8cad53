package plan_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/plan"
)

// TestReusableExact checks the claim plan.Reusable rests on: a session
// that held another prompt, truncated to Reusable's length and prefilled
// with the rest, holds the bits a fresh prefill gives: every layer's keys
// and values and the last position's logits, then a decode step's
// logits. Random models of every family (sliding windows, biases, head
// sizes that take the assembly paths, intermediate sizes that leave SiLU
// a vector tail), f32 and bf16 weights, compute and cache, chunk lengths
// from 1 to 128, shared prefixes that end anywhere, 1 and 2 threads.
func TestReusableExact(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	cases := 40
	if testing.Short() {
		cases = 10
	}
	for i := range cases {
		rng := rand.New(rand.NewPCG(uint64(i), 0x72657573)) // "reus"
		pick := func(v ...int) int { return v[rng.IntN(len(v))] }
		heads := pick(1, 2, 4, 8)
		cfg := &model.Config{
			Architecture: []string{"llama", "mistral", "qwen2"}[i%3],
			NumLayers:    1 + rng.IntN(3),
			NumHeads:     heads,
			NumKVHeads:   pick(1, heads),
			HeadDim:      pick(4, 8, 16, 64),
			VocabSize:    50 + rng.IntN(100),
			RMSNormEps:   1e-5,
			RopeTheta:    10000,
			BOS:          -1,
		}
		cfg.HiddenSize = max(16, cfg.NumHeads*cfg.HeadDim)
		cfg.IntermediateSize = 1 + rng.IntN(150)
		cfg.AttentionBias = cfg.Architecture == "qwen2"
		if cfg.Architecture == "mistral" && rng.IntN(2) == 0 {
			cfg.SlidingWindow = pick(3, 16, 100, 130)
		}
		n := 2 + rng.IntN(300)
		cfg.MaxPositionEmbeddings = 2*n + 2
		weights := []kernels.DType{kernels.F32, kernels.BF16}[rng.IntN(2)]
		compute := []model.ComputeDType{model.ComputeF32, model.ComputeBF16}[i%2]
		kv := []model.CacheDType{model.CacheF32, model.CacheBF16}[i/2%2]
		chunk := pick(1, 3, 4, 5, 8, 17, 48, 128)
		threads := 1 + i%2
		name := fmt.Sprintf("%d: %s L%d H%d/%d d%d hidden %d inter %d window %d, %v weights, %v compute, %v cache, n %d, chunk %d, %d threads",
			i, cfg.Architecture, cfg.NumLayers, cfg.NumHeads, cfg.NumKVHeads, cfg.HeadDim, cfg.HiddenSize, cfg.IntermediateSize,
			cfg.SlidingWindow, weights, compute, kv, n, chunk, threads)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			m, err := model.New(cfg, model.RandomWeights(cfg, weights, int64(i)), model.LoadOptions{Compute: compute})
			if err != nil {
				t.Fatal(err)
			}
			kernels.SetThreads(threads)
			ids := make([]int, n)
			for j := range ids {
				ids[j] = rng.IntN(cfg.VocabSize)
			}
			so := model.SessionOptions{Chunk: chunk, CacheDType: kv}
			fresh := modeltest.NewSession(t, m, so)
			if err := fresh.Prefill(t.Context(), ids[:n-1], nil); err != nil {
				t.Fatal(err)
			}
			for trial := range 4 {
				// Another prompt sharing lcp ids, then cut and continued.
				lcp := rng.IntN(n)
				if trial%2 == 1 {
					// Near the prompt's end, where its last chunk cuts
					// the key tiles short of the cached prompt's.
					lcp = max(0, n-1-rng.IntN(24))
				}
				other := append([]int(nil), ids[:lcp]...)
				for len(other) < lcp+rng.IntN(n) {
					other = append(other, (ids[len(other)%n]+1+rng.IntN(cfg.VocabSize-1))%cfg.VocabSize)
				}
				s := modeltest.NewSession(t, m, so)
				if err := s.Prefill(t.Context(), other, nil); err != nil {
					t.Fatal(err)
				}
				kept := plan.Reusable(other, ids[:n-1], chunk)
				if kept > lcp {
					t.Fatalf("%s: Reusable kept %d of %d shared ids", name, kept, lcp)
				}
				s.Truncate(kept)
				if err := s.Prefill(t.Context(), ids[kept:n-1], nil); err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("%s, trial %d: %d shared, %d kept", name, trial, lcp, kept)
				sameCaches(t, what, cfg, fresh, s)
				if kept < n-1 { // (nothing fed: no logits until the step)
					same(t, what+", logits after the prefill", fresh.Logits(), s.Logits())
				}
				a, b := modeltest.NewSession(t, m, so), s
				if err := a.Prefill(t.Context(), ids[:n-1], nil); err != nil {
					t.Fatal(err)
				}
				if err := a.Step(ids[n-1], nil); err != nil {
					t.Fatal(err)
				}
				if err := b.Step(ids[n-1], nil); err != nil {
					t.Fatal(err)
				}
				same(t, what+", logits of the step", a.Logits(), b.Logits())
			}
		})
	}
}

// sameCaches fails unless every layer of a and b holds bit-identical keys
// and values.
func sameCaches(t *testing.T, what string, cfg *model.Config, a, b *model.Session) {
	t.Helper()
	ka, kb := make([]float32, cfg.HeadDim), make([]float32, cfg.HeadDim)
	for l := 0; l < cfg.NumLayers; l++ {
		ca, cb := a.Cache(l), b.Cache(l)
		if ca.Len() != cb.Len() {
			t.Fatalf("%s: layer %d caches %d and %d positions", what, l, ca.Len(), cb.Len())
		}
		for p := 0; p < ca.Len(); p++ {
			for g := 0; g < cfg.NumKVHeads; g++ {
				ca.Key(p, g, ka)
				cb.Key(p, g, kb)
				same(t, fmt.Sprintf("%s: layer %d key %d head %d", what, l, p, g), ka, kb)
				ca.Value(p, g, ka)
				cb.Value(p, g, kb)
				same(t, fmt.Sprintf("%s: layer %d value %d head %d", what, l, p, g), ka, kb)
			}
		}
	}
}

// same fails unless a and b are bit-identical.
func same(t *testing.T, what string, a, b []float32) {
	t.Helper()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s: [%d] = %g fresh, %g continued", what, i, a[i], b[i])
		}
	}
}
