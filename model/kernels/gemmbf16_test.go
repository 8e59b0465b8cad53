package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// bf16Sets returns the kernel sets whose bf16 GEMM differs and gives the
// twin's bits: the Go twin (first) and, when the CPU has AVX512_BF16, the
// VDPBF16PS assembly. The AMX set (amxSets) has its own tests.
func bf16Sets() []kernelSet {
	var sets []kernelSet
	twin := false
	for _, ks := range available() {
		if !ks.bf16Dot && !twin {
			sets, twin = append(sets, ks), true
		} else if ks.bf16Dot && !ks.amx() {
			sets = append(sets, ks)
		}
	}
	return sets
}

// amxSets returns the kernel sets with the AMX bf16 kernel (none on a CPU
// or OS without it).
func amxSets() []kernelSet {
	var sets []kernelSet
	for _, ks := range available() {
		if ks.amx() {
			sets = append(sets, ks)
		}
	}
	return sets
}

// mulBF16With runs MatMulBF16 under the kernel set ks.
func mulBF16With(ks kernelSet, out, x []float32, m int, p *PackedBF16) {
	defer use(best())
	use(ks)
	MatMulBF16(out, x, m, p)
}

func TestMatMulBF16HandComputed(t *testing.T) {
	// 1 + 2^-8 is halfway between the bf16 neighbours 1 and 1 + 2^-7: it
	// rounds to even (1); 1 + 3·2^-8 rounds up to 1 + 2^-6. Weights are
	// rounded the same way.
	x := []float32{1, 2, 3, 1 + 1.0/256, 0.5, 1 + 3.0/256, 0, -1}
	w := Matrix{Rows: 3, Cols: 4, DType: F32, F32: []float32{
		1, 1, 1, 1,
		0.5, -1, 2, 4,
		1 + 1.0/256, 0, 0, 0,
	}}
	want := []float32{
		1 + 2 + 3 + 1, 0.5 - 2 + 6 + 4, 1,
		0.5 + (1 + 1.0/64) + 0 - 1, 0.25 - (1 + 1.0/64) + 0 - 4, 0.5,
	}
	for _, ks := range bf16Sets() {
		var p PackedBF16
		PackBF16(&p, w)
		out := make([]float32, 6)
		mulBF16With(ks, out, x, 2, &p)
		if fmt.Sprint(out) != fmt.Sprint(want) {
			t.Errorf("%s: MatMulBF16 = %v, want %v", ks.name, out, want)
		}
		// k = 0: every output is an empty sum.
		PackBF16(&p, Matrix{Rows: 3, DType: BF16})
		mulBF16With(ks, out, nil, 2, &p)
		if fmt.Sprint(out) != fmt.Sprint(make([]float32, 6)) {
			t.Errorf("%s: MatMulBF16 with k=0 = %v, want zeros", ks.name, out)
		}
	}
}

// refBF16 is the float64 sum of the exact products of the bf16-rounded
// operands, and the sum of their magnitudes (for the error bound).
func refBF16(x []float32, w Matrix, i, j int) (sum, abs float64) {
	k := w.Cols
	row := make([]float32, k)
	w.Row(row, j)
	for kk := 0; kk < k; kk++ {
		a := float64(BF16ToFloat32(Float32ToBF16(x[i*k+kk])))
		b := float64(BF16ToFloat32(Float32ToBF16(row[kk])))
		sum += a * b
		abs += math.Abs(a * b)
	}
	return sum, abs
}

func TestMatMulBF16MatchesReferenceAndTwin(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	sets := bf16Sets()
	for _, m := range []int{1, 2, 3, 7, 8, 9, 130} {
		for _, n := range []int{1, 31, 32, 33, 100} {
			for _, k := range []int{1, 2, 3, 64, 513, 1030} {
				dt := []DType{F32, BF16, F16}[(m+n+k)%3]
				w := randomMatrix(r, n, k, dt)
				x := randomFloats(r, m*k)
				var p PackedBF16
				PackBF16(&p, w)
				var first []float32
				for si, ks := range sets {
					out := make([]float32, m*n+1)
					out[m*n] = 42
					mulBF16With(ks, out, x, m, &p)
					if out[m*n] != 42 {
						t.Fatalf("%s m=%d n=%d k=%d: wrote past out[:m*n]", ks.name, m, n, k)
					}
					if si == 0 {
						first = out
						// Every sum is a float32 recursive sum of k exact
						// products: |error| <= γ_k·Σ|products|.
						gamma := float64(k) * 0x1p-24 / (1 - float64(k)*0x1p-24)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								want, abs := refBF16(x, w, i, j)
								if got := float64(out[i*n+j]); math.Abs(got-want) > gamma*abs {
									t.Fatalf("m=%d n=%d k=%d %s: out[%d,%d] = %g, want %g ± %g", m, n, k, dt, i, j, got, want, gamma*abs)
								}
							}
						}
						continue
					}
					for i := range first {
						if math.Float32bits(first[i]) != math.Float32bits(out[i]) {
							t.Fatalf("m=%d n=%d k=%d: %s out[%d] = %g, %s %g", m, n, k, sets[0].name, i, first[i], ks.name, out[i])
						}
					}
				}
			}
		}
	}
}

// specialPicker draws, a third of the time, a value that exercises
// rounding, subnormal flushing or non-finite arithmetic (signed zeros,
// subnormals, the edges of the normal range, ±Inf, NaN), and otherwise a
// random value of random magnitude 2^-60 .. 2^60.
func specialPicker(r *rand.Rand) func() float32 {
	specials := []float32{0, float32(math.Copysign(0, -1)), 0x1p-130, -0x1p-127, 0x1p-126, 0x1p-63, 0x1p-64, 3e38, -3e38,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1, -1, 0x1p100, 0x1p-100}
	return func() float32 {
		if r.IntN(3) == 0 {
			return specials[r.IntN(len(specials))]
		}
		return (r.Float32()*2 - 1) * float32(math.Ldexp(1, r.IntN(120)-60))
	}
}

// TestMatMulBF16SpecialValues compares the assembly with the twin bit for
// bit on inputs that exercise the rounding, the subnormal flushing and
// non-finite values.
func TestMatMulBF16SpecialValues(t *testing.T) {
	sets := bf16Sets()
	if len(sets) < 2 {
		t.Skip("no AVX512_BF16 on this CPU: only the Go twin runs")
	}
	r := rand.New(rand.NewPCG(23, 24))
	pick := specialPicker(r)
	const m, n, k = 11, 40, 600
	x := make([]float32, m*k)
	for i := range x {
		x[i] = pick()
	}
	w := Matrix{Rows: n, Cols: k, DType: F32, F32: make([]float32, n*k)}
	for i := range w.F32 {
		w.F32[i] = pick()
	}
	var p PackedBF16
	PackBF16(&p, w)
	goOut, asmOut := make([]float32, m*n), make([]float32, m*n)
	mulBF16With(sets[0], goOut, x, m, &p)
	mulBF16With(sets[1], asmOut, x, m, &p)
	for i := range goOut {
		g, a := goOut[i], asmOut[i]
		if (g != g) != (a != a) || (g == g && math.Float32bits(g) != math.Float32bits(a)) {
			t.Fatalf("out[%d]: Go twin %g (%#x), assembly %g (%#x)", i, g, math.Float32bits(g), a, math.Float32bits(a))
		}
	}
}

func TestRoundBF16MatchesTwin(t *testing.T) {
	sets := bf16Sets()
	if len(sets) < 2 {
		t.Skip("no AVX512_BF16 on this CPU: only the Go twin runs")
	}
	r := rand.New(rand.NewPCG(25, 26))
	const n = 1 << 20
	src := make([]float32, n+5)
	for i := range src {
		switch i % 4 {
		case 0: // anywhere, NaNs and subnormals included
			src[i] = math.Float32frombits(r.Uint32())
		case 1: // ties: the low 16 bits exactly 0x8000
			src[i] = math.Float32frombits(r.Uint32()&0xffff0000 | 0x8000)
		case 2: // subnormals
			src[i] = math.Float32frombits(r.Uint32() & 0x807fffff)
		default: // near the overflow to infinity
			src[i] = math.Float32frombits(0x7f7f0000 | r.Uint32()&0x8000ffff)
		}
	}
	a, g := make([]uint16, len(src)), make([]uint16, len(src))
	sets[1].roundBF16(a, src)
	roundBF16Go(g, src)
	for i := range a {
		if a[i] != g[i] {
			t.Fatalf("bf16(%#x): assembly %#x, Go %#x", math.Float32bits(src[i]), a[i], g[i])
		}
	}
}

func TestMatMulBF16ThreadsAndRows(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(27, 28))
	const m, n, k = 77, 300, 1100
	w := randomMatrix(r, n, k, BF16)
	x := randomFloats(r, m*k)
	var p PackedBF16
	PackBF16(&p, w)
	SetThreads(1)
	want := make([]float32, m*n)
	MatMulBF16(want, x, m, &p)
	for _, th := range []int{2, 3, 7} {
		SetThreads(th)
		got := make([]float32, m*n)
		MatMulBF16(got, x, m, &p)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("threads=%d: out[%d] = %g, threads=1 %g", th, i, got[i], want[i])
			}
		}
	}
	// A row alone (the decode path) gets the bits it gets among others.
	for _, i := range []int{0, 8, 76} {
		got := make([]float32, n)
		MatMulBF16(got, x[i*k:(i+1)*k], 1, &p)
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(want[i*n+j]) {
				t.Fatalf("row %d alone: out[%d] = %g, in the batch %g", i, j, got[j], want[i*n+j])
			}
		}
	}
}

func benchMatMulBF16Dot(b *testing.B, m, k, n int) {
	r := rand.New(rand.NewPCG(29, 30))
	var p PackedBF16
	PackBF16(&p, randomMatrix(r, n, k, BF16))
	x := randomFloats(r, m*k)
	out := make([]float32, m*n)
	benchThreads(b, func(b *testing.B) {
		for b.Loop() {
			MatMulBF16(out, x, m, &p)
		}
		b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// The bf16 dot-product GEMM at the float32 benchmarks' shapes: prefill
// (512 tokens), ggml's shape, and one decode token.
func BenchmarkMatMulBF16Dot_512x2048x2048(b *testing.B)  { benchMatMulBF16Dot(b, 512, 2048, 2048) }
func BenchmarkMatMulBF16Dot_512x14336x4096(b *testing.B) { benchMatMulBF16Dot(b, 512, 14336, 4096) }
func BenchmarkMatMulBF16Dot_1x4096x4096(b *testing.B)    { benchMatMulBF16Dot(b, 1, 4096, 4096) }

func BenchmarkPackBF16_2048x2048(b *testing.B) {
	w := randomMatrix(rand.New(rand.NewPCG(31, 32)), 2048, 2048, BF16)
	var p PackedBF16
	for b.Loop() {
		PackBF16(&p, w)
	}
	b.ReportMetric(float64(2048*2048*2)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
