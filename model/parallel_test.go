package model_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// TestElementwiseSplitExact checks that cutting the norms, RoPE, SwiGLU
// and residual adds into blocks across threads changes no bit: random
// models of every family (odd intermediate sizes put SiLU's vector tail
// mid-row), f32 and bf16 compute, one-shot and chunked prefills, logits of
// every row compared with a single thread's unsplit run.
func TestElementwiseSplitExact(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	cases := 12
	if testing.Short() {
		cases = 4
	}
	for i := range cases {
		c := drawCase(uint64(9100 + i))
		compute := []model.ComputeDType{model.ComputeF32, model.ComputeBF16}[i%2]
		dtype := c.weights
		if dtype == kernels.F16 {
			dtype = kernels.F32
		}
		t.Run(fmt.Sprint(c.seed), func(t *testing.T) {
			m, err := model.New(c.cfg, model.RandomWeights(c.cfg, dtype, int64(c.seed)), model.LoadOptions{Compute: compute})
			if err != nil {
				t.Fatal(err)
			}
			run := func(threads, min, chunk int) []float32 {
				kernels.SetThreads(threads)
				defer model.SetElementwiseMin(min)()
				logits, err := modeltest.NewSession(t, m, c.opts(chunk)).PrefillAll(t.Context(), c.ids, nil)
				if err != nil {
					t.Fatal(err)
				}
				return logits
			}
			for _, chunk := range []int{0, 7} {
				want := run(1, math.MaxInt, chunk)
				for _, threads := range []int{2, 3} {
					got := run(threads, 1, chunk)
					for j := range want {
						if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
							t.Fatalf("%v compute=%v chunk %d, %d threads split: logit %d = %g, unsplit %g", c, compute, chunk, threads, j, got[j], want[j])
						}
					}
				}
			}
		})
	}
}
