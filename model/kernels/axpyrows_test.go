package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAxpyRows checks AxpyRows against Axpy row by row, bit for bit, in
// every kernel set: widths that take the 64- and 16-column blocks and
// ones that take the loop, rows further apart than the width, weights
// of ±0 whose rows hold NaN and ±Inf (skipped, so y stays finite), and a
// hand-computed case.
func TestAxpyRows(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		y := []float32{1, 2}
		nan := float32(math.NaN())
		AxpyRows(y, []float32{2, 0, -1}, []float32{1, 1, 9, nan, nan, 9, 0.5, 4}, 3)
		// 1 + 2·1 - 0.5 = 2.5 and 2 + 2·1 - 4 = 0; the NaN row weighs 0.
		if y[0] != 2.5 || y[1] != 0 {
			t.Fatalf("hand case: y = %v, want [2.5 0]", y)
		}
		r := rand.New(rand.NewPCG(45, 46))
		for _, d := range []int{1, 3, 7, 16, 32, 48, 64, 80, 128, 144} {
			for _, rows := range []int{1, 2, 5, 100} {
				ld := d + r.IntN(3)*16
				x := make([]float32, rows*ld)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				p := make([]float32, rows)
				for k := range p {
					switch r.IntN(5) {
					case 0:
						p[k] = 0
						x[k*ld+r.IntN(d)] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[r.IntN(3)]
					case 1:
						p[k] = float32(math.Copysign(0, -1))
						x[k*ld] = float32(math.Inf(1))
					case 2:
						p[k] = math.SmallestNonzeroFloat32 * float32(1+r.IntN(100))
					default:
						p[k] = float32(r.Float64())
					}
				}
				y0 := make([]float32, d)
				for i := range y0 {
					y0[i] = float32(r.NormFloat64())
				}
				want := append([]float32(nil), y0...)
				for k, a := range p {
					if a != 0 {
						Axpy(a, x[k*ld:k*ld+d], want)
					}
				}
				got := append([]float32(nil), y0...)
				AxpyRows(got, p, x, ld)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("d=%d rows=%d ld=%d: y[%d] = %v, Axpy row by row %v", d, rows, ld, i, got[i], want[i])
					}
					if math.IsNaN(float64(got[i])) || math.IsInf(float64(got[i]), 0) {
						t.Fatalf("d=%d rows=%d: y[%d] = %v: a skipped row's value reached y", d, rows, i, got[i])
					}
				}
			}
		}
	})
}

// BenchmarkAxpyRows is decode attention's P·V for one query head: 8192
// value rows of 64 floats, against Axpy row by row.
func BenchmarkAxpyRows(b *testing.B) {
	const rows, d = 8192, 64
	r := rand.New(rand.NewPCG(47, 48))
	x, p, y := make([]float32, rows*d), make([]float32, rows), make([]float32, d)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for k := range p {
		p[k] = float32(r.Float64()) / rows
	}
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			AxpyRows(y, p, x, d)
		}
		b.ReportMetric(2*rows*d*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("axpy-each", func(b *testing.B) {
		for b.Loop() {
			for k, a := range p {
				Axpy(a, x[k*d:(k+1)*d], y)
			}
		}
		b.ReportMetric(2*rows*d*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// TestAxpyRowsN checks AxpyRowsN against Axpy row by row for each of its
// rows of y, bit for bit, in every kernel set: 1 to 9 rows (blocks of 4
// and the rest), widths in and outside the 64-column blocks, weights of
// ±0 over NaN and ±Inf values (skipped), NaN and subnormal weights (not
// skipped), and y holding -0 (a skipped row must not turn it to +0).
func TestAxpyRowsN(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(47, 48))
		for _, d := range []int{16, 64, 80, 128, 200} {
			for _, heads := range []int{1, 3, 4, 5, 8, 9} {
				for _, n := range []int{1, 7, 300} {
					ld := d + r.IntN(2)*16
					ldp := n + r.IntN(3)
					x := make([]float32, n*ld)
					for i := range x {
						x[i] = float32(r.NormFloat64())
					}
					p := decodeWeights(r, heads*ldp, 20)
					for _, k := range zeroKeys(p, heads, ldp, n) { // non-finite values where every head weighs 0
						x[k*ld+r.IntN(d)] = float32(math.Inf(1 - 2*r.IntN(2)))
					}
					y0 := make([]float32, heads*d)
					for i := range y0 {
						y0[i] = float32(r.NormFloat64())
						if r.IntN(10) == 0 {
							y0[i] = float32(math.Copysign(0, -1))
						}
					}
					want := append([]float32(nil), y0...)
					for j := range heads {
						for k := range n {
							if a := p[j*ldp+k]; a != 0 {
								Axpy(a, x[k*ld:k*ld+d], want[j*d:(j+1)*d])
							}
						}
					}
					got := append([]float32(nil), y0...)
					AxpyRowsN(got, d, heads, p, ldp, n, x, ld)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("d=%d heads=%d n=%d: y[%d] = %v (%#x), Axpy row by row %v (%#x)", d, heads, n, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				}
			}
		}
		AxpyRowsN(nil, 64, 0, nil, 0, 0, nil, 0) // nothing to do: no panic
	})
}

// BenchmarkAxpyRowsN times decode attention's P·V for one KV head of
// TinyLlama's shape (8 query heads, d 64, a 256-key block in cache), head
// by head (AxpyRows) and four heads per read of a value row (AxpyRowsN).
func BenchmarkAxpyRowsN(b *testing.B) {
	const heads, d, n = 8, 64, 256
	r := rand.New(rand.NewPCG(49, 50))
	x, p, y := make([]float32, n*d), make([]float32, heads*n), make([]float32, heads*d)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for i := range p {
		p[i] = float32(r.Float64())
	}
	flops := 2.0 * heads * n * d
	b.Run("by-head", func(b *testing.B) {
		for b.Loop() {
			for j := range heads {
				AxpyRows(y[j*d:(j+1)*d], p[j*n:(j+1)*n], x, d)
			}
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("four-heads", func(b *testing.B) {
		for b.Loop() {
			AxpyRowsN(y, d, heads, p, n, n, x, d)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	// A bf16 cache's values: key by key (the path before AxpyRowsNBF16)
	// and four heads per widened row.
	x16 := make([]uint16, len(x))
	for i, v := range x {
		x16[i] = Float32ToBF16(v)
	}
	b.Run("bf16-by-key", func(b *testing.B) {
		for b.Loop() {
			for k := range n {
				for j := range heads {
					AxpyBF16(p[j*n+k], x16[k*d:(k+1)*d], y[j*d:(j+1)*d])
				}
			}
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("bf16-four-heads", func(b *testing.B) {
		for b.Loop() {
			AxpyRowsNBF16(y, d, heads, p, n, n, x16, d)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// TestGEMVHeads checks GEMVHeads against MatMulSerial head by head, bit
// for bit, in every kernel set: 1 to 9 heads (blocks of 4 and the rest),
// widths in and outside the 64-wide loop and the 16-wide tail (and one the
// vector code does not take), float32 and bf16 rows, output rows further
// apart than the count, values that make NaN and ±Inf sums, and a hand
// case where two NaNs of different payloads meet in the lane reduction
// (x86 keeps the first operand's: only the one-row kernel's operand order
// gives its bits).
func TestGEMVHeads(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		w := Matrix{DType: F32, Rows: 1, Cols: 64, F32: make([]float32, 64)}
		w.F32[0], w.F32[8] = math.Float32frombits(0x7fc00001), math.Float32frombits(0x7fc00002)
		x := make([]float32, 4*64)
		for i := range x {
			x[i] = 1
		}
		got, want := make([]float32, 4), make([]float32, 1)
		GEMVHeads(got, 1, x, 4, w)
		MatMulSerial(want, x[:64], 1, w)
		for j, g := range got {
			if math.Float32bits(g) != math.Float32bits(want[0]) {
				t.Fatalf("NaN payloads: head %d = %#x, MatMulSerial %#x", j, math.Float32bits(g), math.Float32bits(want[0]))
			}
		}
		r := rand.New(rand.NewPCG(51, 52))
		special := []float32{float32(math.NaN()), math.Float32frombits(0x7fc00123), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1))}
		for _, k := range []int{7, 16, 48, 64, 80, 128, 144} {
			for _, heads := range []int{1, 3, 4, 5, 8, 9} {
				for _, n := range []int{1, 5, 257} {
					for _, dt := range []DType{F32, BF16} {
						w := randomMatrix(r, n, k, dt)
						if dt == F32 {
							for range 3 {
								w.F32[r.IntN(n*k)] = special[r.IntN(len(special))]
							}
						}
						x := randomFloats(r, heads*k)
						for range 2 {
							x[r.IntN(len(x))] = special[r.IntN(len(special))]
						}
						ldo := n + r.IntN(3)
						got := make([]float32, heads*ldo)
						GEMVHeads(got, ldo, x, heads, w)
						for j := range heads {
							want := make([]float32, n)
							MatMulSerial(want, x[j*k:(j+1)*k], 1, w)
							for i := range want {
								if math.Float32bits(got[j*ldo+i]) != math.Float32bits(want[i]) {
									t.Fatalf("%v k=%d heads=%d n=%d: head %d row %d = %v (%#x), MatMulSerial %v (%#x)", dt, k, heads, n, j, i, got[j*ldo+i], math.Float32bits(got[j*ldo+i]), want[i], math.Float32bits(want[i]))
								}
							}
						}
					}
				}
			}
		}
	})
}

// BenchmarkGEMVHeads times decode attention's scores for one KV head of
// TinyLlama's shape (8 query heads, d 64, a 256-key block in cache), head
// by head (MatMulSerial) and four heads per read of a key row (GEMVHeads).
func BenchmarkGEMVHeads(b *testing.B) {
	const heads, d, n = 8, 64, 256
	r := rand.New(rand.NewPCG(53, 54))
	w, x, out := randomMatrix(r, n, d, F32), randomFloats(r, heads*d), make([]float32, heads*n)
	flops := 2.0 * heads * n * d
	b.Run("by-head", func(b *testing.B) {
		for b.Loop() {
			for j := range heads {
				MatMulSerial(out[j*n:(j+1)*n], x[j*d:(j+1)*d], 1, w)
			}
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("four-heads", func(b *testing.B) {
		for b.Loop() {
			GEMVHeads(out, n, x, heads, w)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// TestAxpyRowsNBF16 checks AxpyRowsNBF16 against AxpyBF16 key by key for
// each row of y in every kernel set: bit for bit on finite values, ±0
// weights skipped (their rows hold ±Inf and NaN), a NaN weight making its
// row's outputs NaN as AxpyBF16 does (NaN payloads are not compared).
func TestAxpyRowsNBF16(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(55, 56))
		for _, d := range []int{16, 64, 80, 128} {
			for _, heads := range []int{1, 4, 5, 8} {
				for _, n := range []int{1, 9, 300} {
					ld := d + r.IntN(2)*16
					ldp := n + r.IntN(3)
					x := make([]uint16, n*ld)
					for i := range x {
						x[i] = Float32ToBF16(float32(r.NormFloat64()))
					}
					p := decodeWeights(r, heads*ldp, 40)
					for _, k := range zeroKeys(p, heads, ldp, n) {
						x[k*ld+r.IntN(d)] = []uint16{0x7f80, 0xff80, 0x7fc0}[r.IntN(3)]
					}
					y0 := make([]float32, heads*d)
					for i := range y0 {
						y0[i] = float32(r.NormFloat64())
					}
					want := append([]float32(nil), y0...)
					for j := range heads {
						for k := range n {
							if a := p[j*ldp+k]; a != 0 {
								AxpyBF16(a, x[k*ld:k*ld+d], want[j*d:(j+1)*d])
							}
						}
					}
					got := append([]float32(nil), y0...)
					AxpyRowsNBF16(got, d, heads, p, ldp, n, x, ld)
					for i := range got {
						g, w := got[i], want[i]
						if math.IsNaN(float64(w)) {
							if !math.IsNaN(float64(g)) {
								t.Fatalf("d=%d heads=%d n=%d: y[%d] = %v, AxpyBF16 key by key NaN", d, heads, n, i, g)
							}
							continue
						}
						if math.Float32bits(g) != math.Float32bits(w) {
							t.Fatalf("d=%d heads=%d n=%d: y[%d] = %v (%#x), AxpyBF16 key by key %v (%#x)", d, heads, n, i, g, math.Float32bits(g), w, math.Float32bits(w))
						}
					}
				}
			}
		}
	})
}

// decodeWeights returns n attention weights for the AxpyRowsN tests: a
// mix of +0, -0, subnormals, uniform values and, about one in 8*nanOneIn,
// NaN.
func decodeWeights(r *rand.Rand, n, nanOneIn int) []float32 {
	p := make([]float32, n)
	for i := range p {
		switch r.IntN(8) {
		case 0:
			p[i] = 0
		case 1:
			p[i] = float32(math.Copysign(0, -1))
		case 2:
			p[i] = math.SmallestNonzeroFloat32 * float32(1+r.IntN(100))
		case 3:
			if r.IntN(nanOneIn) == 0 {
				p[i] = float32(math.NaN())
			}
		default:
			p[i] = float32(r.Float64())
		}
	}
	return p
}

// zeroKeys returns the keys k < n that every one of heads rows of p (ldp
// apart) weighs ±0.
func zeroKeys(p []float32, heads, ldp, n int) []int {
	var keys []int
	for k := range n {
		zero := true
		for j := range heads {
			zero = zero && p[j*ldp+k] == 0
		}
		if zero {
			keys = append(keys, k)
		}
	}
	return keys
}
