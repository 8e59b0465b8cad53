package model_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/safetensors"
)

// readReference reads input_ids [n] and logits [n, vocab] from a
// checkpoint's reference.safetensors.
func readReference(t *testing.T, dir string) ([]int, []float32) {
	t.Helper()
	set, err := safetensors.OpenDir(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	it, err := set.Tensor("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	ids64, err := it.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	lt, err := set.Tensor("logits")
	if err != nil {
		t.Fatal(err)
	}
	logits, err := lt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, len(ids64))
	for i, v := range ids64 {
		ids[i] = int(v)
	}
	return ids, logits
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestStories260K checks the forward pass against the llama2.c reference
// logits of a real checkpoint (f32 and bf16 weights): one token at a time,
// one prefill, chunked prefills, greedy generation, and a bf16 KV cache.
func TestStories260K(t *testing.T) {
	for _, name := range []string{"stories260K-f32", "stories260K-bf16"} {
		t.Run(name, func(t *testing.T) {
			dir := testshared.Require(t, "models/"+name)
			ids, ref := readReference(t, dir)
			m, err := model.Load(dir, model.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			vocab := m.Config().VocabSize
			if len(ids) != 256 || len(ref) != 256*vocab {
				t.Fatalf("reference holds %d ids and %d logits", len(ids), len(ref))
			}
			check := func(what string, tol float64, logitsAt func(p int) []float32) {
				t.Helper()
				for p := range ids {
					if d := maxAbsDiff(logitsAt(p), ref[p*vocab:(p+1)*vocab]); d >= tol {
						t.Fatalf("%s: position %d: max |logit - reference| = %.3g, want < %g", what, p, d, tol)
					}
				}
			}

			// (a) one token at a time through Step.
			s := modeltest.NewSession(t, m, model.SessionOptions{})
			stepped := make([]float32, 0, len(ref))
			for _, id := range ids {
				if err := s.Step(id, nil); err != nil {
					t.Fatal(err)
				}
				stepped = append(stepped, s.Logits()...)
			}
			check("step", 1e-3, func(p int) []float32 { return stepped[p*vocab : (p+1)*vocab] })

			// (b) one prefill and (c) chunked prefills.
			for _, chunk := range []int{0, 1, 7, 64} {
				s := modeltest.NewSession(t, m, model.SessionOptions{Chunk: chunk})
				all, err := s.PrefillAll(t.Context(), ids, nil)
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("prefill chunk %d", s.Options().Chunk), 1e-3, func(p int) []float32 { return all[p*vocab : (p+1)*vocab] })
			}

			// Greedy generation from BOS reproduces the reference tokens.
			gen := modeltest.Greedy(t, modeltest.NewSession(t, m, model.SessionOptions{}), []int{1}, 255, nil)
			if fmt.Sprint(gen) != fmt.Sprint(ids[1:]) {
				t.Fatalf("greedy generation differs from the reference:\n got %v\nwant %v", gen, ids[1:])
			}

			// A bf16 KV cache: keys/values rounded to 8 mantissa bits. The
			// measured max error over all 256x512 logits is about 0.21 (f32
			// and bf16 weights); the bound is 0.5.
			all, err := modeltest.NewSession(t, m, model.SessionOptions{CacheDType: model.CacheBF16}).PrefillAll(t.Context(), ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			worst := maxAbsDiff(all, ref)
			t.Logf("bf16 KV cache: max |logit - reference| = %.3g", worst)
			check("bf16 KV cache", 0.5, func(p int) []float32 { return all[p*vocab : (p+1)*vocab] })
		})
	}
}
