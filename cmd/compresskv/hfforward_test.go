package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// TestGenerateHFForwardFixtures runs the command the hf-forward fixtures'
// README gives, `generate --model DIR --ids <input_ids[:n-1]> --max-new 1
// --logits OUT`, and checks that it feeds input_ids[n-1] (the greedy
// argmax) and writes all n rows within the README's bound (1e-4 relative,
// per row against the row's largest reference logit).
func TestGenerateHFForwardFixtures(t *testing.T) {
	for _, name := range []string{"llama3-rope-scaling", "qwen2-qkv-bias", "mistral-sliding-window", "llama-attention-bias", "llama-linear-rope-head-dim", "llama-mha"} {
		t.Run(name, func(t *testing.T) {
			dir := testshared.Require(t, filepath.Join("fixtures/hf-forward", name))
			refSet, refIDs := inputIDs(t, filepath.Join(dir, "reference.safetensors"))
			lt, err := refSet.Tensor("logits")
			if err != nil {
				t.Fatal(err)
			}
			ref, err := lt.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			n := len(refIDs)
			prompt := strings.Trim(strings.ReplaceAll(fmt.Sprint(refIDs[:n-1]), " ", ","), "[]")
			out := filepath.Join(t.TempDir(), "logits.safetensors")
			if code, _, errOut := runGenerateArgs(t, "--model", dir, "--ids", prompt, "--max-new", "1", "--logits", out); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			set, ids := inputIDs(t, out)
			if fmt.Sprint(ids) != fmt.Sprint(refIDs) {
				t.Fatalf("input_ids differ from the reference's (the greedy last id is %d, want %d)", ids[len(ids)-1], refIDs[n-1])
			}
			gt, err := set.Tensor("logits")
			if err != nil {
				t.Fatal(err)
			}
			got, err := gt.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(ref) {
				t.Fatalf("%d logits, reference %d", len(got), len(ref))
			}
			vocab := len(ref) / n
			var worst float64
			for r := 0; r < n; r++ {
				var diff, scale float64
				for i := r * vocab; i < (r+1)*vocab; i++ {
					diff = math.Max(diff, math.Abs(float64(got[i])-float64(ref[i])))
					scale = math.Max(scale, math.Abs(float64(ref[i])))
				}
				worst = math.Max(worst, diff/scale)
			}
			if worst > 1e-4 {
				t.Fatalf("max relative error %.3g, want <= 1e-4", worst)
			}
		})
	}
}
