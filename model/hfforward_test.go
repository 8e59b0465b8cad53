package model_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
)

// hfForwardFixtures are the folders of ../shared/fixtures/hf-forward: small
// random checkpoints, one per architecture switch, with one-shot logits of
// an independent float32 re-implementation of the Hugging Face forward pass.
var hfForwardFixtures = []string{
	"llama3-rope-scaling",
	"qwen2-qkv-bias",
	"mistral-sliding-window",
	"llama-attention-bias",
	"llama-linear-rope-head-dim",
	"llama-mha",
}

// hfForwardBound is the fixtures' README bound on the relative error: the
// max over rows of max|logit - reference| / max|reference row|.
const hfForwardBound = 1e-4

// rowRelError returns the README's relative error of got against ref, both
// [rows, vocab].
func rowRelError(got, ref []float32, vocab int) float64 {
	var worst float64
	for r := 0; r+vocab <= len(ref); r += vocab {
		var diff, scale float64
		for i := r; i < r+vocab; i++ {
			diff = math.Max(diff, math.Abs(float64(got[i])-float64(ref[i])))
			scale = math.Max(scale, math.Abs(float64(ref[i])))
		}
		worst = math.Max(worst, diff/scale)
	}
	return worst
}

// TestHFForwardFixtures runs every hf-forward fixture in one prefill and in
// chunks and checks all logits within the README's bound, in both RoPE
// arithmetics. The default RopeHF reproduces the reference's float32
// angles, so it also lands closer to it than the float64 RopeExact
// (measured: 0.18x-0.61x of RopeExact's error across the fixtures).
func TestHFForwardFixtures(t *testing.T) {
	for _, name := range hfForwardFixtures {
		t.Run(name, func(t *testing.T) {
			dir := testshared.Require(t, filepath.Join("fixtures/hf-forward", name))
			ids, ref := readReference(t, dir)
			worst := map[model.RopeArithmetic]float64{}
			for _, arithmetic := range []model.RopeArithmetic{model.RopeHF, model.RopeExact} {
				for _, chunk := range []int{0, 100} {
					m, err := model.Load(dir, model.LoadOptions{})
					if err != nil {
						t.Fatal(err)
					}
					vocab := m.Config().VocabSize
					if len(ref) != len(ids)*vocab {
						t.Fatalf("reference holds %d ids and %d logits", len(ids), len(ref))
					}
					got, err := modeltest.NewSession(t, m, model.SessionOptions{Chunk: chunk, Rope: arithmetic}).PrefillAll(t.Context(), ids, nil)
					m.Close()
					if err != nil {
						t.Fatal(err)
					}
					rel := rowRelError(got, ref, vocab)
					t.Logf("rope %v, chunk %d: max relative error %.3g", arithmetic, chunk, rel)
					if rel > hfForwardBound {
						t.Errorf("rope %v, chunk %d: max relative error %.3g, want <= %g", arithmetic, chunk, rel, hfForwardBound)
					}
					worst[arithmetic] = math.Max(worst[arithmetic], rel)
				}
			}
			if worst[model.RopeHF] >= worst[model.RopeExact] {
				t.Errorf("rope hf: max relative error %.3g, not below rope exact's %.3g: the float32 angles do not follow the reference", worst[model.RopeHF], worst[model.RopeExact])
			}
		})
	}
}

// TestHFForwardComputeBF16 measures bf16 compute on every hf-forward
// fixture: the README's relative error against the float32 reference, and
// how often the argmax of a row changes. The bound, 4 % of the row's
// largest logit, is 1.46x the worst measured (2.74 % on the Mistral
// fixture with prefill attention in bf16 too; 2.2 % when only the
// projections were; docs/method.md has the figures); the lower bound
// checks that bf16 compute is in use at all.
func TestHFForwardComputeBF16(t *testing.T) {
	for _, name := range hfForwardFixtures {
		t.Run(name, func(t *testing.T) {
			dir := testshared.Require(t, filepath.Join("fixtures/hf-forward", name))
			ids, ref := readReference(t, dir)
			m, err := model.Load(dir, model.LoadOptions{Compute: model.ComputeBF16})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			vocab := m.Config().VocabSize
			got, err := modeltest.NewSession(t, m, model.SessionOptions{}).PrefillAll(t.Context(), ids, nil)
			if err != nil {
				t.Fatal(err)
			}
			var absWorst float64
			flips := 0
			for r := 0; r < len(ids); r++ {
				g, w := got[r*vocab:(r+1)*vocab], ref[r*vocab:(r+1)*vocab]
				absWorst = math.Max(absWorst, maxAbsDiff(g, w))
				if argmaxOf(g) != argmaxOf(w) {
					flips++
				}
			}
			rel := rowRelError(got, ref, vocab)
			t.Logf("bf16 compute: max |diff| %.3g, max relative error %.3g, argmax changed in %d of %d rows", absWorst, rel, flips, len(ids))
			if rel > 0.04 || rel <= hfForwardBound {
				t.Errorf("bf16 compute: max relative error %.3g, want in (%g, 0.04]", rel, hfForwardBound)
			}
		})
	}
}

func argmaxOf(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
