package model_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// queryRecorder keeps a copy of every PrefillEnd view's positions and
// queries.
type queryRecorder struct {
	window    int
	positions [][]int
	queries   [][]float32
}

func (r *queryRecorder) WantProbs() bool              { return false }
func (r *queryRecorder) QueryWindow() int             { return r.window }
func (r *queryRecorder) DecodeStep(*model.DecodeView) {}
func (r *queryRecorder) PrefillEnd(p *model.PrefillView) {
	r.positions = append(r.positions, slices.Clone(p.Positions))
	r.queries = append(r.queries, slices.Clone(p.Queries))
}

// sameBits reports the first index where a and b differ in their bits, or -1.
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// sameCache fails t unless every layer of a and b holds the same bits.
func sameCache(t *testing.T, what string, a, b *model.Session) {
	t.Helper()
	for l := range a.Model().Config().NumLayers {
		ca, cb := a.Cache(l), b.Cache(l)
		if ca.Len() != cb.Len() {
			t.Fatalf("%s: layer %d: cache of %d and %d rows", what, l, ca.Len(), cb.Len())
		}
		for g := range ca.KVHeads() {
			for _, m := range [][2]kernels.Matrix{{ca.Keys(g), cb.Keys(g)}, {ca.Values(g), cb.Values(g)}} {
				if !slices.Equal(m[0].U16, m[1].U16) {
					t.Fatalf("%s: layer %d KV head %d: bf16 cache differs", what, l, g)
				}
				if i := sameBits(m[0].F32, m[1].F32); i >= 0 {
					t.Fatalf("%s: layer %d KV head %d: cache value %d differs", what, l, g, i)
				}
			}
		}
	}
}

// TestLastLayerRowsExact: a prefill that computes only LastLayerRows rows
// of the last layer in full gives the bits of one that computes them all
// (SessionOptions.FullLastLayer): the last row's residual and logits,
// every layer's cache, the PrefillEnd queries, and the logits of steps
// after it. Random models of every family and shape (GQA, MHA, sliding
// windows, bias, tied embeddings, odd intermediate sizes), f32 and bf16
// compute, f32 and bf16 caches, 1 and 2 threads, chunkings whose last chunk
// has 1, 2, 3, 5 or many rows, with and without an observer, and a
// compressed session prefilling more.
func TestLastLayerRowsExact(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	cases := 24
	if testing.Short() {
		cases = 6
	}
	skipped, runs := 0, 0
	for i := range cases {
		c := drawCase(uint64(7000 + i))
		compute := []model.ComputeDType{model.ComputeF32, model.ComputeBF16}[i%2]
		c.kv = []model.CacheDType{model.CacheF32, model.CacheBF16}[i/2%2]
		dtype := c.weights
		if dtype == kernels.F16 {
			dtype = kernels.F32
		}
		t.Run(fmt.Sprint(c.seed), func(t *testing.T) {
			t.Logf("%v compute=%v", c, compute)
			m, err := model.New(c.cfg, model.RandomWeights(c.cfg, dtype, int64(c.seed)), model.LoadOptions{Compute: compute})
			if err != nil {
				t.Fatal(err)
			}
			ids, n := c.ids, len(c.ids)
			chunks := append([]int{0, 17, 128}, c.chunks...)
			for _, last := range []int{1, 2, 3, 5} {
				if n-last >= last {
					chunks = append(chunks, n-last) // chunks of n-last and last rows
				}
			}
			group := c.cfg.KVGroup()
			for _, threads := range []int{1, 2} {
				kernels.SetThreads(threads)
				for _, chunk := range chunks {
					windows := []int{-1, c.window, 37} // none, the case's, one longer than most blocks
					if threads == 1 {
						windows = windows[1:2] // (the thread count changes no bit anyway)
					}
					for _, window := range windows {
						what := fmt.Sprintf("threads %d, chunk %d, window %d", threads, chunk, window)
						run := func(full bool) (*model.Session, *queryRecorder) {
							so := c.opts(chunk)
							so.FullLastLayer = full
							s := modeltest.NewSession(t, m, so)
							var rec *queryRecorder
							var obs model.Observer
							if window >= 0 {
								rec = &queryRecorder{window: window}
								obs = rec
							}
							if err := s.Prefill(t.Context(), ids, obs); err != nil {
								t.Fatal(err)
							}
							return s, rec
						}
						want, wantQ := run(true)
						got, gotQ := run(false)
						compare(t, what, want, got)
						if wantQ != nil {
							for l := range wantQ.queries {
								if !slices.Equal(wantQ.positions[l], gotQ.positions[l]) || sameBits(wantQ.queries[l], gotQ.queries[l]) >= 0 {
									t.Fatalf("%s: layer %d: PrefillEnd positions %v / %v or queries differ", what, l, wantQ.positions[l], gotQ.positions[l])
								}
							}
						}
						// Did the chunking skip any row of the last layer?
						size := got.Options().Chunk
						for c0 := 0; c0 < n; c0 += size {
							rows := min(size, n-c0)
							if model.LastLayerRows(group, rows, max(window, 0)) < rows {
								skipped++
								break
							}
						}
						runs++
						// Decoding on from both: the same bits.
						for _, id := range ids[:min(2, n)] {
							if got.Full() {
								break
							}
							if err := want.Step(id, nil); err != nil {
								t.Fatal(err)
							}
							if err := got.Step(id, nil); err != nil {
								t.Fatal(err)
							}
							compare(t, what+", then a step", want, got)
						}
					}
				}
				// A compressed cache (every other position and the last 3
				// kept) prefilling the second half of ids.
				if half := n / 2; half >= 1 {
					keep := make([][][]int, c.cfg.NumLayers)
					for l := range keep {
						var pos []int
						for p := range half {
							if p%2 == 0 || p >= half-3 {
								pos = append(pos, p)
							}
						}
						keep[l] = make([][]int, c.cfg.NumKVHeads)
						for g := range keep[l] {
							keep[l][g] = pos
						}
					}
					var sessions [2]*model.Session
					for k, full := range []bool{true, false} {
						so := c.opts(c.pchunk)
						so.FullLastLayer = full
						s := modeltest.NewSession(t, m, so)
						if err := s.Prefill(t.Context(), ids[:half], nil); err != nil {
							t.Fatal(err)
						}
						cs, err := s.Compressed(keep)
						if err != nil {
							t.Fatal(err)
						}
						if err := cs.Prefill(t.Context(), ids[half:], nil); err != nil {
							t.Fatal(err)
						}
						sessions[k] = cs
					}
					compare(t, "compressed", sessions[0], sessions[1])
				}
			}
		})
	}
	// Many runs must have skipped rows, or the comparison proves nothing.
	if skipped < runs/4 {
		t.Fatalf("only %d of %d runs skipped last-layer rows", skipped, runs)
	}
	t.Logf("%d of %d runs skipped last-layer rows", skipped, runs)
}

// compare fails t unless a and b hold the same bits: the last residual,
// the logits and every layer's cache.
func compare(t *testing.T, what string, a, b *model.Session) {
	t.Helper()
	if i := sameBits(model.LastResidual(a), model.LastResidual(b)); i >= 0 {
		t.Fatalf("%s: last residual differs at %d", what, i)
	}
	if i := sameBits(a.Logits(), b.Logits()); i >= 0 {
		t.Fatalf("%s: last logits differ at %d", what, i)
	}
	sameCache(t, what, a, b)
}

// TestLastLayerRowsByHand: at least 4 rows (the GEMM path) and the
// observer's window, the rest whole attention blocks of 128/group tokens
// counted back from the chunk's end.
func TestLastLayerRowsByHand(t *testing.T) {
	for _, c := range []struct{ group, n, window, want int }{
		{8, 512, 0, 16},     // blocks of 16: 512 - 31*16 (31 = (512-4)/16)
		{8, 512, 8, 16},     // (512-8)/16 = 31 blocks skipped
		{8, 512, 32, 32},    // (512-32)/16 = 30
		{1, 512, 0, 128},    // blocks of 128: 512 - 3*128
		{4, 300, 0, 12},     // blocks of 32: (300-4)/32 = 9, 300 - 288
		{8, 20, 0, 4},       // one block of 16 skipped
		{8, 19, 0, 19},      // (19-4)/16 = 0: nothing skipped
		{8, 4, 0, 4},        // as few rows as the GEMM needs
		{8, 3, 0, 3},        // fewer: the GEMV path either way
		{8, 5, 40, 5},       // the window wants more than the chunk
		{256, 10, 0, 4},     // more heads per KV head than attnRows: blocks of 1
		{2, 1000, 200, 232}, // blocks of 64: (1000-200)/64 = 12, 1000 - 768
	} {
		if got := model.LastLayerRows(c.group, c.n, c.window); got != c.want {
			t.Errorf("LastLayerRows(%d, %d, %d) = %d, want %d", c.group, c.n, c.window, got, c.want)
		}
	}
}
