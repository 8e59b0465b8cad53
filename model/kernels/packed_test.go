package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// transposed returns w [n, k] as a row-major [k, n] matrix of the same dtype.
func transposed(w Matrix) Matrix {
	t := Matrix{Rows: w.Cols, Cols: w.Rows, DType: w.DType}
	if w.DType == F32 {
		t.F32 = make([]float32, len(w.F32))
	} else {
		t.U16 = make([]uint16, len(w.U16))
	}
	for i := 0; i < w.Rows; i++ {
		for j := 0; j < w.Cols; j++ {
			if w.DType == F32 {
				t.F32[j*w.Rows+i] = w.F32[i*w.Cols+j]
			} else {
				t.U16[j*w.Rows+i] = w.U16[i*w.Cols+j]
			}
		}
	}
	return t
}

// TestMulPackedMatchesMatMul checks that x·wᵀ through PackT, and x·w
// through PackN of the transposed matrix, give MatMul's bits exactly, on
// ragged shapes (including K > gemmKC, m and n off the tile sizes), with
// padded leading dimensions and with accumulate.
func TestMulPackedMatchesMatMul(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		shapes := [][3]int{{1, 1, 1}, {8, 32, 64}, {7, 33, 5}, {17, 95, 300}, {128, 128, 64}, {9, 64, 513}}
		for _, dt := range []DType{F32, BF16, F16} {
			for _, sh := range shapes {
				m, n, k := sh[0], sh[1], sh[2]
				w := randomMatrix(r, n, k, dt)
				ldx, ldo := k+3, n+5
				x := randomFloats(r, m*ldx)
				xc := make([]float32, m*k) // compact copy for MatMul
				for i := 0; i < m; i++ {
					copy(xc[i*k:(i+1)*k], x[i*ldx:i*ldx+k])
				}
				want := make([]float32, m*n)
				MatMul(want, xc, m, w)
				var pt, pn Packed
				PackT(&pt, w)
				PackN(&pn, transposed(w))
				for _, p := range []*Packed{&pt, &pn} {
					out := randomFloats(r, m*ldo)
					base := append([]float32(nil), out...)
					MulPacked(out, ldo, x, ldx, m, p, false)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							if got := out[i*ldo+j]; math.Float32bits(got) != math.Float32bits(want[i*n+j]) {
								t.Fatalf("%s %v: out[%d,%d] = %v, MatMul %v", dt, sh, i, j, got, want[i*n+j])
							}
						}
						for j := n; j < ldo; j++ {
							if out[i*ldo+j] != base[i*ldo+j] {
								t.Fatalf("%s %v: wrote past column %d", dt, sh, n)
							}
						}
					}
					// accumulate adds the same sum on top (k <= gemmKC: one block).
					if k <= gemmKC {
						MulPacked(out, ldo, x, ldx, m, p, true)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								if got, w := out[i*ldo+j], want[i*n+j]+want[i*n+j]; got != w {
									t.Fatalf("%s %v accumulate: out[%d,%d] = %v, want %v", dt, sh, i, j, got, w)
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestPackedView checks that a view equals packing the block alone.
func TestPackedView(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	k, n, m := 70, 100, 11
	w := randomMatrix(r, k, n, F32) // [k, n] for PackN
	var full Packed
	PackN(&full, w)
	for _, v := range [][2]int{{70, 100}, {33, 65}, {1, 1}, {70, 32}} {
		kk, nn := v[0], v[1]
		block := Matrix{Rows: kk, Cols: nn, DType: F32, F32: make([]float32, kk*nn)}
		for i := 0; i < kk; i++ {
			copy(block.F32[i*nn:(i+1)*nn], w.F32[i*n:i*n+nn])
		}
		var alone Packed
		PackN(&alone, block)
		x := randomFloats(r, m*kk)
		want, got := make([]float32, m*nn), make([]float32, m*nn)
		MulPacked(want, nn, x, kk, m, &alone, false)
		MulPacked(got, nn, x, kk, m, full.View(kk, nn), false)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("view %v: out[%d] = %v, want %v", v, i, got[i], want[i])
			}
		}
	}
}

// TestMatMulSerialMatchesMatMul checks MatMulSerial's bits against MatMul
// on 2 threads, on the GEMV and GEMM paths.
func TestMatMulSerialMatchesMatMul(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	r := rand.New(rand.NewPCG(9, 10))
	for _, sh := range [][3]int{{1, 700, 1024}, {3, 65, 17}, {64, 600, 1000}} {
		m, n, k := sh[0], sh[1], sh[2]
		w := randomMatrix(r, n, k, BF16)
		x := randomFloats(r, m*k)
		a, b := make([]float32, m*n), make([]float32, m*n)
		MatMul(a, x, m, w)
		MatMulSerial(b, x, m, w)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%v: [%d] %v vs %v", sh, i, a[i], b[i])
			}
		}
	}
}

func TestMulPackedShortSlicesPanic(t *testing.T) {
	var p Packed
	PackT(&p, Matrix{Rows: 4, Cols: 4, DType: F32, F32: make([]float32, 16)})
	for _, tc := range []struct {
		name     string
		out, x   []float32
		ldo, ldx int
	}{
		{"short x", make([]float32, 16), make([]float32, 15), 4, 4},
		{"short out", make([]float32, 15), make([]float32, 16), 4, 4},
		{"small ldx", make([]float32, 16), make([]float32, 16), 4, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			MulPacked(tc.out, tc.ldo, tc.x, tc.ldx, 4, &p, false)
		})
	}
}

// TestPackMatchesGo checks that every kernel set packs weight panels into
// exactly the floats of the pure-Go scatter, for each dtype, on full
// panels (the assembly path), partial panels and depths off 16.
func TestPackMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, dt := range []DType{F32, BF16, F16} {
		for _, sh := range [][2]int{{64, 256}, {96, 48}, {33, 300}, {32, 16}, {40, 17}} {
			w := randomMatrix(r, sh[0], sh[1], dt)
			use(goKernels)
			var want Packed
			PackT(&want, w)
			use(best())
			for _, ks := range available() {
				use(ks)
				var got Packed
				PackT(&got, w)
				for i := range want.data[:len(got.data)] {
					if math.Float32bits(got.data[i]) != math.Float32bits(want.data[i]) {
						use(best())
						t.Fatalf("%s %s %v: packed[%d] = %v, Go %v", ks.name, dt, sh, i, got.data[i], want.data[i])
					}
				}
			}
			use(best())
		}
	}
}

// TestMaxFloat32 checks MaxFloat32 against the scalar reference on every
// length up to 70 (vector bodies and tails), with the maximum, a NaN and
// -Inf at every kind of position.
func TestMaxFloat32(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		if got := MaxFloat32(nil); !math.IsInf(float64(got), -1) {
			t.Fatalf("empty: %v, want -Inf", got)
		}
		for n := 1; n <= 70; n++ {
			for trial := 0; trial < 4; trial++ {
				x := randomFloats(r, n)
				at := r.IntN(n)
				switch trial {
				case 1:
					x[at] = 7 // a clear maximum
				case 2:
					x[at] = float32(math.NaN())
				case 3:
					for i := range x {
						x[i] = float32(math.Inf(-1))
					}
				}
				want, got := maxGo(x), MaxFloat32(x)
				if want != got && !(want != want && got != got) {
					t.Fatalf("n=%d trial %d: MaxFloat32 = %v, want %v", n, trial, got, want)
				}
				if trial == 1 && got != 7 {
					t.Fatalf("n=%d: max %v, want 7", n, got)
				}
			}
		}
	})
}

// TestSiLUOffsetFree checks that SiLU gives a value the same bits at any
// offset of any slice, in a tail shorter than a vector as in the body:
// a prefill chunk's last row ends its gate slice, and chunks start at
// other rows when a cached prefix is reused (plan.Reusable).
func TestSiLUOffsetFree(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(41, 42))
		x := make([]float32, 4096) // a multiple of 16: every value in the body
		for i := range x {
			x[i] = float32(r.NormFloat64() * 4)
		}
		want := append([]float32(nil), x...)
		SiLU(want)
		for lo := 0; lo < len(x); lo += 1 + r.IntN(5) {
			hi := min(lo+1+r.IntN(40), len(x))
			y := append([]float32(nil), x[lo:hi]...)
			SiLU(y)
			for i, v := range y {
				if math.Float32bits(v) != math.Float32bits(want[lo+i]) {
					t.Fatalf("SiLU(%v) in x[%d:%d] = %v, in the body of a long slice %v", x[lo+i], lo, hi, v, want[lo+i])
				}
			}
		}
	})
}

// TestSiLU checks SiLU against x/(1+e^-x) in float64 on a grid of values,
// at every tail length, and its special values.
func TestSiLU(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		var x []float32
		for v := -100.0; v <= 100; v += 0.37 {
			x = append(x, float32(v))
		}
		x = append(x, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 88, -88, 1e30, -1e30)
		for n := len(x) - 17; n <= len(x); n++ {
			y := append([]float32(nil), x[:n]...)
			SiLU(y)
			for i, v := range x[:n] {
				want := float64(v) / (1 + math.Exp(-float64(v)))
				if d := math.Abs(float64(y[i]) - want); d > 2e-6*math.Abs(want)+1e-30 {
					t.Fatalf("n=%d: SiLU(%v) = %v, want %v", n, v, y[i], want)
				}
			}
		}
		special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
		y := make([]float32, 16)
		for i := range y {
			y[i] = special[i%3]
		}
		SiLU(y)
		for i, v := range y {
			switch i % 3 {
			case 0, 2: // NaN and -Inf/Inf give NaN
				if v == v {
					t.Fatalf("SiLU(%v) = %v, want NaN", special[i%3], v)
				}
			case 1:
				if !math.IsInf(float64(v), 1) {
					t.Fatalf("SiLU(+Inf) = %v", v)
				}
			}
		}
	})
}
