package model_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

func TestParseComputeDType(t *testing.T) {
	for _, c := range []struct {
		in   string
		want model.ComputeDType
		ok   bool
	}{{"f32", model.ComputeF32, true}, {"BF16", model.ComputeBF16, true}, {"f16", 0, false}, {"", 0, false}} {
		got, err := model.ParseComputeDType(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseComputeDType(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && got.String() != map[bool]string{true: "bf16", false: "f32"}[got == model.ComputeBF16] {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

// TestComputeBF16 bounds what bf16 compute costs against the float64
// reference (activations and weights rounded to 8 mantissa bits: well under
// 3 % of the logit scale), checks that its bits do not depend on the thread
// count, and that a chunked prefill agrees with a one-shot prefill within
// one bf16 ulp (2^-8) of the logit scale: a row's bf16 GEMM does not
// depend on the other rows, but attention's float32 order does depend on
// the chunking, and a 1e-7 difference can round an activation to the other
// bf16 neighbour. A token-by-token decode agrees within 2^-6: decode
// attention stays float32 while prefill attention rounds q, k, P and v to
// bf16, so a decoded token's logits differ by that rounding (measured at
// most 0.68 %).
func TestComputeBF16(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	for _, dtype := range []kernels.DType{kernels.BF16, kernels.F32} {
		m, ref := loadRandomWith(t, tinyConfig("llama", 64, 4, 2, 16, ""), dtype, model.LoadOptions{Compute: model.ComputeBF16})
		so := model.SessionOptions{Chunk: 64}
		if m.PackedBytes() == 0 {
			t.Fatal("bf16 compute packed no weights")
		}
		const n = 40
		vocab := m.Config().VocabSize
		ids := randomIDs(n, vocab, 11)
		want := ref.Run(ids).Logits
		kernels.SetThreads(1)
		base, err := modeltest.NewSession(t, m, so).PrefillAll(t.Context(), ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for p := range ids {
			worst = math.Max(worst, relErr(base[p*vocab:(p+1)*vocab], want[p]))
		}
		if worst > 3e-2 || worst < 1e-5 {
			t.Errorf("%v weights: bf16 compute relative error %.3g, want in [1e-5, 3e-2] (below: bf16 not engaged)", dtype, worst)
		}
		same := func(what string, got []float32, from int) {
			t.Helper()
			for i, v := range got {
				if math.Float32bits(v) != math.Float32bits(base[from*vocab+i]) {
					t.Fatalf("%v weights, %s: logit %d of position %d = %g, one-shot prefill on 1 thread %g", dtype, what, i%vocab, from+i/vocab, v, base[from*vocab+i])
				}
			}
		}
		near := func(what string, got []float32, from int, tol float64) {
			t.Helper()
			for p := 0; p < len(got)/vocab; p++ {
				ref := make([]float64, vocab)
				for i := range ref {
					ref[i] = float64(base[(from+p)*vocab+i])
				}
				e := relErr(got[p*vocab:(p+1)*vocab], ref)
				if e > tol {
					t.Fatalf("%v weights, %s: position %d differs from the one-shot prefill by %.3g of the logit scale, want <= %g", dtype, what, from+p, e, tol)
				}
			}
		}
		kernels.SetThreads(2)
		got, err := modeltest.NewSession(t, m, so).PrefillAll(t.Context(), ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		same("2 threads", got, 0)
		so.Chunk = 7
		s := modeltest.NewSession(t, m, so)
		if got, err = s.PrefillAll(t.Context(), ids[:30], nil); err != nil {
			t.Fatal(err)
		}
		near("chunk 7", got, 0, 1.0/256)
		for p := 30; p < n; p++ {
			if err := s.Step(ids[p], nil); err != nil {
				t.Fatal(err)
			}
			near("decode step", s.Logits(), p, 1.0/64)
		}
	}
}

// TestCacheReserve: a chunked prefill allocates each head's keys once for
// the whole call (plus the decode headroom), so later chunks and the first
// decode steps never copy the cache again.
func TestCacheReserve(t *testing.T) {
	for _, kv := range []model.CacheDType{model.CacheF32, model.CacheBF16} {
		m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
		s := modeltest.NewSession(t, m, model.SessionOptions{Chunk: 7, CacheDType: kv})
		ids := randomIDs(100, m.Config().VocabSize, 13)
		if err := s.Prefill(t.Context(), ids[:40], nil); err != nil {
			t.Fatal(err)
		}
		first := m.Config().HeadDim * 40
		addr := func() string {
			k := s.Cache(0).Keys(0)
			if kv == model.CacheBF16 {
				return fmt.Sprintf("%p %d", &k.U16[0], len(k.U16))
			}
			return fmt.Sprintf("%p %d", &k.F32[0], len(k.F32))
		}
		before := addr()
		for _, id := range ids[40:] {
			if err := s.Step(id, nil); err != nil {
				t.Fatal(err)
			}
		}
		after := addr()
		if before[:strings.IndexByte(before, ' ')] != after[:strings.IndexByte(after, ' ')] {
			t.Errorf("%v cache: 60 decode steps after a 40-token prefill moved the keys (%s -> %s); want them within the reserved headroom", kv, before, after)
		}
		if !strings.HasSuffix(before, fmt.Sprint(" ", first)) {
			t.Errorf("%v cache: keys after prefill %s, want %d values", kv, before, first)
		}
	}
}
