package model_test

import (
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// dynamicConfig is a Llama with dynamic NTK scaling that the test
// sequences outgrow (max_position_embeddings 16).
var dynamicConfig = []byte(`{"model_type": "llama", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
	"num_key_value_heads": 2, "vocab_size": 97, "max_position_embeddings": 16, "rope_scaling": {"rope_type": "dynamic", "factor": 2}}`)

// TestDynamicNTKChunking: transformers rotates every position of a forward
// call with the base of the call's sequence length. A chunked Prefill is
// one call, so it gives the one-shot logits in either RoPE arithmetic
// (within 1e-5, the chunking invariance of TestPropertyChunkingInvariance:
// 1-row chunks take the GEMV path; without the fix chunks of 7 were off by
// the base of 7 tokens instead of 40), and they match the one-shot float64
// reference.
func TestDynamicNTKChunking(t *testing.T) {
	const n = 40
	for _, arithmetic := range []model.RopeArithmetic{model.RopeHF, model.RopeExact} {
		m, ref := loadRandom(t, dynamicConfig, kernels.F32)
		so := model.SessionOptions{MaxContext: 64, Rope: arithmetic}
		ids := randomIDs(n, m.Config().VocabSize, 3)
		want := ref.Run(ids).Logits
		oneShot, err := modeltest.NewSession(t, m, so).PrefillAll(t.Context(), ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		vocab := m.Config().VocabSize
		for p := range ids {
			if e := relErr(oneShot[p*vocab:(p+1)*vocab], want[p]); e > 1e-4 {
				t.Fatalf("%v: one-shot prefill: position %d: relative error %.3g against the reference", arithmetic, p, e)
			}
		}
		for _, chunk := range []int{1, 7, 16, 17} {
			so.Chunk = chunk
			got, err := modeltest.NewSession(t, m, so).PrefillAll(t.Context(), ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			for p := range ids {
				if e := relErr(got[p*vocab:(p+1)*vocab], toF64(oneShot[p*vocab:(p+1)*vocab])); e > 1e-5 {
					t.Fatalf("%v: prefill in chunks of %d: position %d: relative error %.3g against one shot", arithmetic, chunk, p, e)
				}
			}
		}
	}
}

// TestDynamicNTKDecode: as with transformers' KV cache, a decode step at
// position p rotates its query and key with the base of p+1 tokens while
// the cached keys keep the base of the call that computed them. Layer 0's
// keys depend only on the token and the rotation, so after Prefill(30) and
// one Step the cached keys 0..29 equal those of a one-shot Prefill of 30
// tokens, and key 30 equals that of a one-shot Prefill of 31.
func TestDynamicNTKDecode(t *testing.T) {
	m, _ := loadRandom(t, dynamicConfig, kernels.F32)
	so := model.SessionOptions{MaxContext: 64}
	ids := randomIDs(31, m.Config().VocabSize, 3)
	stepped := modeltest.NewSession(t, m, so)
	if err := stepped.Prefill(t.Context(), ids[:30], nil); err != nil {
		t.Fatal(err)
	}
	if err := stepped.Step(ids[30], nil); err != nil {
		t.Fatal(err)
	}
	short, long := modeltest.NewSession(t, m, so), modeltest.NewSession(t, m, so)
	if err := short.Prefill(t.Context(), ids[:30], nil); err != nil {
		t.Fatal(err)
	}
	if err := long.Prefill(t.Context(), ids, nil); err != nil {
		t.Fatal(err)
	}
	// Keys agree within 1e-5 relative (a 1-row step takes the GEMV path,
	// a prefill the GEMM one); the base of 30 and of 31 tokens rotate key
	// 30 a few percent apart.
	d := m.Config().HeadDim
	key := func(s *model.Session, pos, g int) []float32 {
		k := make([]float32, d)
		s.Cache(0).Key(pos, g, k)
		return k
	}
	same := func(a, b []float32) bool { return relErr(a, toF64(b)) <= 1e-5 }
	for g := 0; g < m.Config().NumKVHeads; g++ {
		for p := 0; p < 30; p++ {
			if !same(key(stepped, p, g), key(short, p, g)) {
				t.Fatalf("kv head %d: cached key %d changed when a step grew the sequence", g, p)
			}
			if p > 0 && same(key(stepped, p, g), key(long, p, g)) { // position 0 is never rotated
				t.Fatalf("kv head %d: key %d of a 30-token prefill equals that of a 31-token one: the base did not depend on the length", g, p)
			}
		}
		if !same(key(stepped, 30, g), key(long, 30, g)) {
			t.Fatalf("kv head %d: the stepped key 30 is not rotated with the base of 31 tokens (relative difference %.3g)", g, relErr(key(stepped, 30, g), toF64(key(long, 30, g))))
		}
	}
}
