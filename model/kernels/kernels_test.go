package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// forEachKernelSet runs f once per kernel set this CPU supports (the pure-Go
// set always), restoring the best set afterwards.
func forEachKernelSet(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer use(best())
	for _, ks := range available() {
		use(ks)
		t.Run(ks.name, f)
	}
}

// randomMatrix returns an n x k matrix of the dtype with values in [-1, 1).
func randomMatrix(r *rand.Rand, n, k int, dt DType) Matrix {
	m := Matrix{Rows: n, Cols: k, DType: dt}
	if dt == F32 {
		m.F32 = randomFloats(r, n*k)
		return m
	}
	m.U16 = make([]uint16, n*k)
	for i := range m.U16 {
		v := r.Float32()*2 - 1
		if dt == BF16 {
			m.U16[i] = Float32ToBF16(v)
		} else {
			m.U16[i] = float32ToF16(v)
		}
	}
	return m
}

// float32ToF16 truncates f to IEEE half precision; good enough for test
// values in [-1, 1] (normal or subnormal halves, no rounding needed).
func float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		return sign | uint16((mant|0x800000)>>(14-exp))
	}
	return sign | uint16(exp)<<10 | uint16(mant>>13)
}

func randomFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

// matMulTolerance bounds the rounding error of any summation order of the
// k products of out[i, j]: about k units of float32 roundoff times Σ|x·w|.
func matMulTolerance(x []float32, m int, w Matrix, i, j int) float64 {
	k := w.Cols
	row := make([]float32, k)
	w.Row(row, j)
	var abs float64
	for kk := 0; kk < k; kk++ {
		abs += math.Abs(float64(x[i*k+kk]) * float64(row[kk]))
	}
	return float64(k+2)*6e-8*abs + 1e-30
}

var edgeSizes = []int{1, 2, 3, 7, 13, 17, 31, 33, 64, 65, 127, 129, 257}

func TestMatMulHandComputed(t *testing.T) {
	// x = [[1 2 3] [4 5 6]], w = [[1 0 -1] [0.5 0.5 0.5]]:
	// out = [[1-3, 3] [4-6, 7.5]].
	x := []float32{1, 2, 3, 4, 5, 6}
	want := []float32{-2, 3, -2, 7.5}
	ws := []float32{1, 0, -1, 0.5, 0.5, 0.5}
	forEachKernelSet(t, func(t *testing.T) {
		for _, dt := range []DType{F32, BF16, F16} {
			w := Matrix{Rows: 2, Cols: 3, DType: dt}
			for _, v := range ws {
				switch dt {
				case F32:
					w.F32 = append(w.F32, v)
				case BF16:
					w.U16 = append(w.U16, Float32ToBF16(v))
				case F16:
					w.U16 = append(w.U16, float32ToF16(v))
				}
			}
			for _, m := range []int{1, 2} { // GEMV path, and GEMM via m = 2 rows below
				out := make([]float32, m*2)
				MatMul(out, x, m, w)
				for i, v := range out {
					if v != want[i] {
						t.Errorf("%s m=%d: out = %v, want %v", dt, m, out, want[:m*2])
						break
					}
				}
			}
			// The GEMM path, with the example repeated over 9 rows.
			x9 := make([]float32, 0, 27)
			for i := 0; i < 9; i++ {
				x9 = append(x9, x[(i%2)*3:(i%2)*3+3]...)
			}
			out := make([]float32, 18)
			MatMul(out, x9, 9, w)
			for i := 0; i < 9; i++ {
				if out[2*i] != want[(i%2)*2] || out[2*i+1] != want[(i%2)*2+1] {
					t.Errorf("%s m=9 row %d: %v, want %v", dt, i, out[2*i:2*i+2], want[(i%2)*2:(i%2)*2+2])
				}
			}
		}
	})
}

func TestMatMulMatchesReference(t *testing.T) {
	type shape struct{ m, n, k int }
	var shapes []shape
	for a, m := range edgeSizes {
		for b, n := range edgeSizes {
			shapes = append(shapes, shape{m, n, edgeSizes[(a+b)%len(edgeSizes)]})
		}
	}
	// Several packed blocks deep, several units wide, primes everywhere.
	shapes = append(shapes, shape{19, 601, 541}, shape{1, 1009, 613}, shape{3, 97, 1031}, shape{131, 67, 523},
		shape{1, 77, 128}, shape{2, 333, 1024}, shape{3, 65, 80}) // whole vectors: the assembly GEMV rows
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, dt := range []DType{F32, BF16, F16} {
			for _, s := range shapes {
				if testing.Short() && s.m*s.n*s.k > 1<<20 {
					continue
				}
				w := randomMatrix(r, s.n, s.k, dt)
				x := randomFloats(r, s.m*s.k)
				got := make([]float32, s.m*s.n)
				want := make([]float32, s.m*s.n)
				for i := range got {
					got[i] = float32(math.NaN()) // every output must be written
				}
				MatMul(got, x, s.m, w)
				matMulRef(want, x, s.m, w)
				bad := 0
				for i := 0; i < s.m && bad < 3; i++ {
					for j := 0; j < s.n && bad < 3; j++ {
						g, r := got[i*s.n+j], want[i*s.n+j]
						if tol := matMulTolerance(x, s.m, w, i, j); !(math.Abs(float64(g-r)) <= tol) {
							t.Errorf("%s m=%d n=%d k=%d: out[%d,%d] = %g, reference %g (tolerance %.3g)", dt, s.m, s.n, s.k, i, j, g, r, tol)
							bad++
						}
					}
				}
			}
		}
	})
}

// TestMatMulThreadsDeterministic checks the promise profiles rely on: the
// same inputs give the same bits for every thread count.
func TestMatMulThreadsDeterministic(t *testing.T) {
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range []struct{ m, n, k int }{{1, 2000, 700}, {3, 1500, 400}, {67, 900, 600}, {200, 129, 257}} {
		for _, dt := range []DType{F32, BF16} {
			w := randomMatrix(r, s.n, s.k, dt)
			x := randomFloats(r, s.m*s.k)
			SetThreads(1)
			want := make([]float32, s.m*s.n)
			MatMul(want, x, s.m, w)
			for _, threads := range []int{2, 3, 7} {
				SetThreads(threads)
				got := make([]float32, s.m*s.n)
				MatMul(got, x, s.m, w)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %dx%dx%d: %d threads: out[%d] = %x, 1 thread %x", dt, s.m, s.n, s.k, threads, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

func TestMatMulNaNPropagates(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, m := range []int{1, 3, 20} {
			const n, k = 70, 300
			w := randomMatrix(r, n, k, F32)
			x := randomFloats(r, m*k)
			x[(m-1)*k+k-1] = float32(math.NaN()) // last row, last column (a tail)
			w.F32[5*k+260] = float32(math.NaN()) // weight row 5, second packed block
			out := make([]float32, m*n)
			MatMul(out, x, m, w)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					isNaN := out[i*n+j] != out[i*n+j]
					if want := i == m-1 || j == 5; isNaN != want {
						t.Fatalf("m=%d: out[%d,%d] = %g, want NaN: %v", m, i, j, out[i*n+j], want)
					}
				}
			}
		}
	})
}

func TestMatMulZeroSizes(t *testing.T) {
	for _, s := range []struct{ m, n, k int }{{0, 5, 5}, {5, 0, 5}, {5, 4, 0}, {1, 4, 0}, {0, 0, 0}} {
		w := Matrix{Rows: s.n, Cols: s.k, DType: BF16, U16: make([]uint16, s.n*s.k)}
		out := make([]float32, s.m*s.n)
		for i := range out {
			out[i] = 42
		}
		MatMul(out, make([]float32, s.m*s.k), s.m, w)
		for i, v := range out {
			if v != 0 {
				t.Errorf("%+v: out[%d] = %g, want 0 (an empty sum)", s, i, v)
			}
		}
	}
}

func TestMatMulShortSlicesPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MatMul with a short out slice did not panic")
		}
	}()
	w := Matrix{Rows: 4, Cols: 4, DType: F32, F32: make([]float32, 16)}
	MatMul(make([]float32, 7), make([]float32, 8), 2, w)
}

var vectorLengths = []int{0, 1, 2, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 257, 1000, 4099}

func TestDotKernels(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range vectorLengths {
			a := randomFloats(r, n)
			b := randomFloats(r, n+3) // Dot reads only len(a)
			bw := randomMatrix(r, 1, n+3, BF16).U16
			hw := randomMatrix(r, 1, n+3, F16).U16
			wb, wh := make([]float32, n), make([]float32, n)
			widenBF16Go(wb, bw[:n])
			widenF16Go(wh, hw[:n])
			var abs, absB, absH float64
			for i := 0; i < n; i++ {
				abs += math.Abs(float64(a[i] * b[i]))
				absB += math.Abs(float64(a[i] * wb[i]))
				absH += math.Abs(float64(a[i] * wh[i]))
			}
			for _, c := range []struct {
				name      string
				got, want float32
				abs       float64
			}{
				{"Dot", Dot(a, b), dotRef(a, b), abs},
				{"DotBF16", DotBF16(a, bw), dotRef(a, wb), absB},
				{"dotF16", dotF16(a, hw[:n]), dotRef(a, wh), absH},
			} {
				if tol := float64(n+2) * 6e-8 * c.abs; !(math.Abs(float64(c.got-c.want)) <= tol) {
					t.Errorf("%s n=%d: %g, reference %g", c.name, n, c.got, c.want)
				}
			}
		}
	})
}

func TestAxpyKernels(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range vectorLengths {
			x := randomFloats(r, n)
			xb := randomMatrix(r, 1, n, BF16).U16
			y := randomFloats(r, n+5)
			const alpha = -0.375
			y1 := append([]float32(nil), y...)
			y2 := append([]float32(nil), y...)
			Axpy(alpha, x, y1)
			AxpyBF16(alpha, xb, y2)
			for i := range y {
				want1, want2 := float64(y[i]), float64(y[i])
				var ax1, ax2 float64
				if i < n {
					ax1 = alpha * float64(x[i])
					ax2 = alpha * float64(BF16ToFloat32(xb[i]))
				}
				want1 += ax1
				want2 += ax2
				// A fused or an unfused multiply-add: two roundings at most.
				if math.Abs(float64(y1[i])-want1) > 1.2e-7*(math.Abs(float64(y[i]))+math.Abs(ax1)) {
					t.Fatalf("Axpy n=%d: y[%d] = %g, want %g", n, i, y1[i], want1)
				}
				if math.Abs(float64(y2[i])-want2) > 1.2e-7*(math.Abs(float64(y[i]))+math.Abs(ax2)) {
					t.Fatalf("AxpyBF16 n=%d: y[%d] = %g, want %g", n, i, y2[i], want2)
				}
			}
		}
	})
}

// TestWidenExhaustive checks every 16-bit pattern: widening is exact.
func TestWidenExhaustive(t *testing.T) {
	src := make([]uint16, 1<<16+5) // a ragged tail too
	for i := range src {
		src[i] = uint16(i)
	}
	forEachKernelSet(t, func(t *testing.T) {
		dst := make([]float32, len(src))
		for _, c := range []struct {
			name  string
			widen func(dst []float32, src []uint16)
			ref   func(uint16) float32
		}{{"bf16", widenBF16, BF16ToFloat32}, {"f16", widenF16, F16ToFloat32}} {
			c.widen(dst, src)
			for i, v := range src {
				got, want := dst[i], c.ref(v)
				if want != want { // NaN payloads may be quieted by hardware
					if got == got {
						t.Fatalf("%s %#04x: %g, want NaN", c.name, v, got)
					}
					continue
				}
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s %#04x: %g (%#x), want %g (%#x)", c.name, v, got, math.Float32bits(got), want, math.Float32bits(want))
				}
			}
		}
	})
}

func TestExpMatchesMath(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x <= 88.5; x += 0.0137 {
		want := math.Exp(float64(x))
		rel := math.Abs(float64(Exp(x))-want) / want
		worst = max(worst, rel)
	}
	if worst > 1e-6 {
		t.Errorf("Exp: worst relative error %.3g over [-87, 88.5], want <= 1e-6", worst)
	}
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {1, float32(math.E)}, {-inf, 0}, {inf, inf}, {89, inf}, {-200, 0},
		{-103, float32(math.Exp(-103))}, // subnormal result
	} {
		if got := Exp(c.x); got != c.want {
			t.Errorf("Exp(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if got := Exp(float32(math.NaN())); got == got {
		t.Errorf("Exp(NaN) = %g", got)
	}
}

func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 2, 17, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = r.Float32()*40 - 20
		}
		var mx, sum float64 = math.Inf(-1), 0
		for _, v := range x {
			mx = max(mx, float64(v))
		}
		want := make([]float64, n)
		for i, v := range x {
			want[i] = math.Exp(float64(v) - mx)
			sum += want[i]
		}
		Softmax(x, 1)
		for i := range x {
			if w := want[i] / sum; math.Abs(float64(x[i])-w) > 1e-6*w+1e-12 {
				t.Fatalf("n=%d: p[%d] = %g, want %g", n, i, x[i], w)
			}
		}
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		in   []float32
		want []float32
	}{
		{[]float32{0, 0}, []float32{0.5, 0.5}},
		{[]float32{1000, 1000, -inf}, []float32{0.5, 0.5, 0}}, // no overflow: max is subtracted
		{[]float32{1, nan, 2}, []float32{nan, nan, nan}},
		{[]float32{-inf, -inf}, []float32{nan, nan}},
		{[]float32{}, []float32{}},
	} {
		x := append([]float32(nil), c.in...)
		Softmax(x, 1)
		if fmt.Sprint(x) != fmt.Sprint(c.want) {
			t.Errorf("Softmax(%v, 1) = %v, want %v", c.in, x, c.want)
		}
	}
}

func TestSmallVectorOps(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	for _, c := range []struct {
		in   []float32
		want float32
	}{{[]float32{}, -inf}, {[]float32{-3}, -3}, {[]float32{1, 5, 2}, 5}, {[]float32{1, nan, 9}, nan}, {[]float32{nan, 1}, nan}} {
		if got := MaxFloat32(c.in); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("MaxFloat32(%v) = %g, want %g", c.in, got, c.want)
		}
	}
	x := []float32{1, -2, 4}
	Scale(0.5, x)
	Add(x, []float32{1, 1, 1})
	if fmt.Sprint(x) != "[1.5 0 3]" {
		t.Errorf("Scale then Add = %v, want [1.5 0 3]", x)
	}
	s := []float32{0, 1, -1, 20, -20}
	SiLU(s)
	for i, v := range []float64{0, 1, -1, 20, -20} {
		want := v / (1 + math.Exp(-v))
		if math.Abs(float64(s[i])-want) > 1e-6*math.Abs(want)+1e-12 {
			t.Errorf("SiLU(%g) = %g, want %g", v, s[i], want)
		}
	}
}

func TestCeilingProbes(t *testing.T) {
	if g := PeakFMA(1, 0); !(g > 0) {
		t.Errorf("PeakFMA = %g GFLOP/s, want > 0", g)
	}
	if g := MemoryBandwidth(2, 1<<20, 1); !(g > 0) {
		t.Errorf("MemoryBandwidth = %g GB/s, want > 0", g)
	}
	if g := MemoryBandwidth(3, 10, 1); g != 0 {
		t.Errorf("MemoryBandwidth of a 10-byte buffer = %g, want 0 (nothing to measure)", g)
	}
}

// TestMatMulDoesNotAllocate checks the pool's promise: after a warm-up call
// (which sizes the scratch buffers), MatMul allocates nothing per call.
func TestMatMulDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items on purpose")
	}
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(13, 14))
	for _, s := range []struct{ m, n, k int }{{1, 1024, 1024}, {64, 256, 512}} {
		w := randomMatrix(r, s.n, s.k, BF16)
		x := randomFloats(r, s.m*s.k)
		out := make([]float32, s.m*s.n)
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			MatMul(out, x, s.m, w)
			// A per-call allocation would average >= 1; sync.Pool may rarely
			// refill after a GC, which stays far below.
			if a := testing.AllocsPerRun(20, func() { MatMul(out, x, s.m, w) }); a >= 0.5 {
				t.Errorf("%dx%dx%d, %d threads: %.2f allocations per call, want 0", s.m, s.n, s.k, threads, a)
			}
			var p PackedBF16
			PackBF16(&p, w)
			MatMulBF16(out, x, s.m, &p)
			if a := testing.AllocsPerRun(20, func() { MatMulBF16(out, x, s.m, &p) }); a >= 0.5 {
				t.Errorf("MatMulBF16 %dx%dx%d, %d threads: %.2f allocations per call, want 0", s.m, s.n, s.k, threads, a)
			}
		}
	}
}

func TestExpShiftSumMatchesMath(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		// The softmax domain x - shift in [-130, 0], plus a ragged tail.
		const n = 20000 + 7
		x := make([]float32, n)
		for i := range x {
			x[i] = -130 * float32(i) / n
		}
		// x is stored as in/scale + shift, so (x - shift)·scale = in up to
		// one rounding of the stored value; compare against exp of what
		// the kernel was actually asked.
		const shift, scale = 0.5, 0.125
		in := make([]float32, n)
		for i := range x {
			x[i] = x[i]/scale + shift
			in[i] = (x[i] - shift) * scale
		}
		sum := ExpShiftSum(x, shift, scale)
		var want float64
		worst := 0.0
		for i, v := range in {
			e := math.Exp(float64(v))
			want += e
			if e >= 0x1p-126 { // normal float32 results: relative error
				worst = max(worst, math.Abs(float64(x[i])-e)/e)
			} else if math.Abs(float64(x[i])-e) > 3e-45 { // subnormal: about one ulp
				t.Fatalf("exp(%g) = %g, want %g", v, x[i], e)
			}
		}
		if worst > 1e-6 {
			t.Errorf("worst relative error %.3g, want <= 1e-6", worst)
		}
		if math.Abs(float64(sum)-want) > 1e-5*want {
			t.Errorf("sum %g, want %g", sum, want)
		}
		// NaN and -Inf inside whole vectors, not only in the Go tail.
		y := make([]float32, 35)
		y[3] = float32(math.NaN())
		y[20] = float32(math.Inf(-1))
		ExpShiftSum(y, 0, 1)
		if y[3] == y[3] || y[20] != 0 || y[0] != 1 || y[34] != 1 {
			t.Errorf("exp of [0.. NaN@3 .. -Inf@20 ..] = %v", y)
		}
	})
}

func TestSoftmaxWholeVectors(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		nan := float32(math.NaN())
		x := make([]float32, 40)
		x[17] = nan
		Softmax(x, 1)
		for i, v := range x {
			if v == v {
				t.Fatalf("softmax with a NaN: p[%d] = %g, want NaN", i, v)
			}
		}
		inf := float32(math.Inf(-1))
		x = make([]float32, 40)
		for i := range x {
			x[i] = inf
		}
		x[5], x[33] = 2, 2 // only two unmasked positions
		Softmax(x, 1)
		for i, v := range x {
			want := float32(0)
			if i == 5 || i == 33 {
				want = 0.5
			}
			if v != want {
				t.Fatalf("masked softmax: p[%d] = %g, want %g", i, v, want)
			}
		}
	})
}
