package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// mulPackedBF16With runs MulPackedBF16 under the kernel set ks.
func mulPackedBF16With(ks kernelSet, out []float32, ldo int, x []uint16, ldx, m int, p *PackedBF16, accumulate bool) {
	defer use(best())
	use(ks)
	MulPackedBF16(out, ldo, x, ldx, m, p, accumulate)
}

// roundedRows rounds x [m, k] to bf16 rows of ldx words (>= 2·ceil(k/2)),
// zero past k, with RoundBF16.
func roundedRows(x []float32, m, k, ldx int) []uint16 {
	out := make([]uint16, m*ldx)
	for i := 0; i < m; i++ {
		RoundBF16(out[i*ldx:], x[i*k:(i+1)*k])
	}
	return out
}

func TestMulPackedBF16HandComputed(t *testing.T) {
	// Attention's two products on 2 rows, 3 keys, head dim 2. Q·Kᵀ: the
	// key 1 + 2^-8 (a tie) rounds to 1, the query 1 + 3·2^-8 up to
	// 1 + 2^-6. P·V with P's 0.1 rounded to 0.10009765625 (bf16) and the
	// values rounded likewise; out starts at 10 and accumulates.
	keys := Matrix{Rows: 3, Cols: 2, DType: F32, F32: []float32{
		1 + 1.0/256, 2,
		-1, 0.5,
		4, 0,
	}}
	q := []float32{1 + 3.0/256, 1, 2, -0.25}
	wantS := []float32{
		1 + 1.0/64 + 2, -(1 + 1.0/64) + 0.5, 4 * (1 + 1.0/64),
		2 - 0.5, -2 - 0.125, 8,
	}
	values := Matrix{Rows: 3, Cols: 2, DType: BF16, U16: []uint16{
		Float32ToBF16(1), Float32ToBF16(-2),
		Float32ToBF16(0.5), Float32ToBF16(3),
		Float32ToBF16(8), Float32ToBF16(1),
	}}
	p := []float32{0.1, 1, 0, 0.5, 0.25, 2}
	const p01 = 0.10009765625 // bf16(0.1)
	// Each row: (10 + (v1·p1 + v0·p0) pair sum) ... the block sum is formed
	// first: p01·1 + 1·0.5 + 0·8, then added to 10.
	wantO := []float32{
		10 + (p01*1 + 0.5 + 0), 10 + (p01*-2 + 3 + 0),
		10 + (0.5*1 + 0.25*0.5 + 2*8), 10 + (0.5*-2 + 0.25*3 + 2*1),
	}
	for _, ks := range bf16Sets() {
		var kp, vp PackedBF16
		PackBF16(&kp, keys)
		PackBF16N(&vp, values)
		s := make([]float32, 6)
		mulPackedBF16With(ks, s, 3, roundedRows(q, 2, 2, 2), 2, 2, &kp, false)
		if fmt.Sprint(s) != fmt.Sprint(wantS) {
			t.Errorf("%s: S = %v, want %v", ks.name, s, wantS)
		}
		o := []float32{10, 10, 10, 10}
		// 3 keys: each row of P is padded to 4 words with a zero.
		mulPackedBF16With(ks, o, 2, roundedRows(p, 2, 3, 4), 4, 2, &vp, true)
		if fmt.Sprint(o) != fmt.Sprint(wantO) {
			t.Errorf("%s: O = %v, want %v", ks.name, o, wantO)
		}
	}
}

// bf16Values returns w's values rounded to bf16, widened to float64.
func bf16Values(w Matrix) []float64 {
	row := make([]float32, w.Cols)
	var out []float64
	for i := 0; i < w.Rows; i++ {
		w.Row(row, i)
		for _, v := range row {
			out = append(out, float64(BF16ToFloat32(Float32ToBF16(v))))
		}
	}
	return out
}

// refPackedBF16 is the float64 x · w of the bf16-rounded operands (wv:
// bf16Values of w [k, n]) and the sum of the products' magnitudes.
func refPackedBF16(x []float32, k int, wv []float64, n, i, j int) (sum, abs float64) {
	for kk := 0; kk < k; kk++ {
		a := float64(BF16ToFloat32(Float32ToBF16(x[i*k+kk])))
		sum += a * wv[kk*n+j]
		abs += math.Abs(a * wv[kk*n+j])
	}
	return sum, abs
}

// TestMulPackedBF16MatchesReferenceAndTwin: x·w through PackBF16N, on
// ragged shapes (k past one bf16KP block, odd k, partial panels and row
// tiles), padded leading dimensions, with and without accumulate: within
// the float32 summation bound of the float64 reference, the Go twin and
// the assembly bit for bit, and without accumulate MatMulBF16's bits of
// the PackBF16 of wᵀ.
func TestMulPackedBF16MatchesReferenceAndTwin(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	sets := bf16Sets()
	for _, m := range []int{1, 5, 8, 13, 128} {
		for _, n := range []int{1, 32, 64, 70} {
			for _, k := range []int{1, 2, 7, 128, 1031} {
				dt := []DType{F32, BF16, F16}[(m+n+k)%3]
				w := randomMatrix(r, k, n, dt) // [k, n]
				x := randomFloats(r, m*k)
				ldx, ldo := 2*ceilDiv(k, 2)+6, n+3
				xb := roundedRows(x, m, k, ldx)
				var p, pt PackedBF16
				PackBF16N(&p, w)
				PackBF16(&pt, transposed(w))
				if !slices.Equal(p.data, pt.data) {
					t.Fatalf("m=%d n=%d k=%d %s: PackBF16N differs from PackBF16 of the transpose", m, n, k, dt)
				}
				start, wv := randomFloats(r, m*ldo), bf16Values(w)
				var first [2][]float32
				for si, ks := range sets {
					for ai, accumulate := range []bool{false, true} {
						out := slices.Clone(start)
						mulPackedBF16With(ks, out, ldo, xb, ldx, m, &p, accumulate)
						if si > 0 {
							for i := range out {
								if math.Float32bits(out[i]) != math.Float32bits(first[ai][i]) {
									t.Fatalf("m=%d n=%d k=%d accumulate=%v: %s out[%d] = %g, %s %g", m, n, k, accumulate, ks.name, i, out[i], sets[0].name, first[ai][i])
								}
							}
							continue
						}
						first[ai] = out
						gamma := float64(k+1) * 0x1p-24 / (1 - float64(k+1)*0x1p-24)
						for i := 0; i < m; i++ {
							for j := 0; j < ldo; j++ {
								got := float64(out[i*ldo+j])
								if j >= n { // between the rows: untouched
									if got != float64(start[i*ldo+j]) {
										t.Fatalf("m=%d n=%d k=%d: wrote out[%d,%d] past n", m, n, k, i, j)
									}
									continue
								}
								want, abs := refPackedBF16(x, k, wv, n, i, j)
								if accumulate {
									want += float64(start[i*ldo+j])
									abs += math.Abs(float64(start[i*ldo+j]))
								}
								if math.Abs(got-want) > gamma*abs {
									t.Fatalf("m=%d n=%d k=%d %s accumulate=%v: out[%d,%d] = %g, want %g ± %g", m, n, k, dt, accumulate, i, j, got, want, gamma*abs)
								}
							}
						}
					}
				}
				// The bits of MatMulBF16 on the PackBF16 of wᵀ.
				want := make([]float32, m*n)
				mulBF16With(sets[0], want, x, m, &pt)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						if math.Float32bits(first[0][i*ldo+j]) != math.Float32bits(want[i*n+j]) {
							t.Fatalf("m=%d n=%d k=%d: out[%d,%d] = %g, MatMulBF16 %g", m, n, k, i, j, first[0][i*ldo+j], want[i*n+j])
						}
					}
				}
			}
		}
	}
}

// TestMulPackedBF16SpecialValues compares the assembly with the twin bit
// for bit through MulPackedBF16's accumulate path on rounding ties,
// subnormals and non-finite values.
func TestMulPackedBF16SpecialValues(t *testing.T) {
	sets := bf16Sets()
	if len(sets) < 2 {
		t.Skip("no AVX512_BF16 on this CPU: only the Go twin runs")
	}
	r := rand.New(rand.NewPCG(43, 44))
	pick := specialPicker(r)
	const m, n, k = 19, 70, 301
	x := make([]float32, m*k)
	for i := range x {
		x[i] = pick()
	}
	w := Matrix{Rows: k, Cols: n, DType: F32, F32: make([]float32, k*n)}
	for i := range w.F32 {
		w.F32[i] = pick()
	}
	start := make([]float32, m*n)
	for i := range start {
		start[i] = pick()
	}
	var p PackedBF16
	PackBF16N(&p, w)
	xb := roundedRows(x, m, k, k+1)
	goOut, asmOut := slices.Clone(start), slices.Clone(start)
	mulPackedBF16With(sets[0], goOut, n, xb, k+1, m, &p, true)
	mulPackedBF16With(sets[1], asmOut, n, xb, k+1, m, &p, true)
	for i := range goOut {
		g, a := goOut[i], asmOut[i]
		if (g != g) != (a != a) || (g == g && math.Float32bits(g) != math.Float32bits(a)) {
			t.Fatalf("out[%d]: Go twin %g (%#x), assembly %g (%#x)", i, g, math.Float32bits(g), a, math.Float32bits(a))
		}
	}
}

// TestPackedBF16View: a view multiplies as the block packed alone, for
// the key tiles' column views (S = Q·Kᵀ) and the value tiles' depth views
// (P·V), odd depths included (the parent's next input meets a zero pad).
func TestPackedBF16View(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	const m = 11
	keys := randomMatrix(r, 100, 64, BF16) // [keys, headDim]
	values := randomMatrix(r, 100, 40, F32)
	var kfull, vfull PackedBF16
	PackBF16(&kfull, keys)
	PackBF16N(&vfull, values)
	block := func(w Matrix, rows, cols int) Matrix {
		b := Matrix{Rows: rows, Cols: cols, DType: w.DType}
		for i := 0; i < rows; i++ {
			if w.DType == F32 {
				b.F32 = append(b.F32, w.F32[i*w.Cols:i*w.Cols+cols]...)
			} else {
				b.U16 = append(b.U16, w.U16[i*w.Cols:i*w.Cols+cols]...)
			}
		}
		return b
	}
	check := func(what string, view, alone *PackedBF16) {
		t.Helper()
		k, n := alone.K, alone.N
		ldx := 2 * ceilDiv(k, 2)
		xb := roundedRows(randomFloats(r, m*k), m, k, ldx)
		want, got := make([]float32, m*n), make([]float32, m*n)
		MulPackedBF16(want, n, xb, ldx, m, alone, false)
		MulPackedBF16(got, n, xb, ldx, m, view, false)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: out[%d] = %v, want %v", what, i, got[i], want[i])
			}
		}
	}
	for _, keysN := range []int{100, 65, 33, 1} {
		var alone PackedBF16
		PackBF16(&alone, block(keys, keysN, 64))
		check(fmt.Sprintf("keys[:%d]", keysN), kfull.View(64, keysN), &alone)
	}
	for _, depth := range []int{100, 64, 33, 1} {
		var alone PackedBF16
		PackBF16N(&alone, block(values, depth, 40))
		check(fmt.Sprintf("values[:%d]", depth), vfull.View(depth, 40), &alone)
	}
}

func TestMulPackedBF16Panics(t *testing.T) {
	var p PackedBF16
	PackBF16N(&p, Matrix{Rows: 3, Cols: 4, DType: F32, F32: make([]float32, 12)}) // k = 3: rows of 4 words
	for _, tc := range []struct {
		name     string
		out      []float32
		x        []uint16
		ldo, ldx int
	}{
		{"short x", make([]float32, 8), make([]uint16, 7), 4, 4},
		{"short out", make([]float32, 7), make([]uint16, 8), 4, 4},
		{"small ldx", make([]float32, 8), make([]uint16, 8), 4, 3},
		{"small ldo", make([]float32, 8), make([]uint16, 8), 3, 4},
		{"pad word set", make([]float32, 8), []uint16{0, 0, 0, 0, 0, 0, 0, 0x3f80}, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			MulPackedBF16(tc.out, tc.ldo, tc.x, tc.ldx, 2, &p, false)
		})
	}
	// k = 0: an empty sum overwrites, or leaves out alone when accumulating.
	var empty PackedBF16
	PackBF16N(&empty, Matrix{Cols: 3, DType: BF16})
	out := []float32{1, 2, 3}
	MulPackedBF16(out, 3, nil, 0, 1, &empty, true)
	if fmt.Sprint(out) != "[1 2 3]" {
		t.Errorf("k=0 accumulate: %v, want [1 2 3]", out)
	}
	MulPackedBF16(out, 3, nil, 0, 1, &empty, false)
	if fmt.Sprint(out) != "[0 0 0]" {
		t.Errorf("k=0: %v, want zeros", out)
	}
}

// BenchmarkMulPackedBF16Attention times one attention work item's two
// products at head dim 64 (128 query rows, a 128-key tile) with f32 and
// bf16 tiles, one thread (the calls are serial).
func BenchmarkMulPackedBF16Attention(b *testing.B) {
	r := rand.New(rand.NewPCG(47, 48))
	const rows, d, tile = 128, 64, 128
	keys, values := randomMatrix(r, tile, d, BF16), randomMatrix(r, tile, d, BF16)
	q, p := randomFloats(r, rows*d), randomFloats(r, rows*tile)
	s, o := make([]float32, rows*tile), make([]float32, rows*d)
	flops := 4.0 * rows * d * tile
	b.Run("f32", func(b *testing.B) {
		var kp, vp Packed
		PackT(&kp, keys)
		PackN(&vp, values)
		for b.Loop() {
			MulPacked(s, tile, q, d, rows, &kp, false)
			MulPacked(o, d, p, tile, rows, &vp, true)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("bf16", func(b *testing.B) {
		var kp, vp PackedBF16
		PackBF16(&kp, keys)
		PackBF16N(&vp, values)
		qb, pb := make([]uint16, rows*d), make([]uint16, rows*tile)
		RoundBF16(qb, q)
		for b.Loop() {
			MulPackedBF16(s, tile, qb, d, rows, &kp, false)
			RoundBF16(pb, p)
			MulPackedBF16(o, d, pb, tile, rows, &vp, true)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

// TestPackBF16UnalignedSource: BF16 words that start off a 4-byte boundary
// (the packers then move pairs 16 bits at a time) pack to the bytes the
// same words give from an aligned start, for keys (PackBF16) and values
// (PackBF16N), with odd and even k and a partial panel.
func TestPackBF16UnalignedSource(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, shape := range [][2]int{{40, 64}, {33, 7}, {5, 2}} {
		rows, cols := shape[0], shape[1]
		w := randomMatrix(r, rows, cols, BF16)
		buf := make([]uint16, len(w.U16)+1)
		copy(buf[1:], w.U16)
		odd := Matrix{Rows: rows, Cols: cols, DType: BF16, U16: buf[1:]}
		if aligned4(odd.U16) || !aligned4(w.U16) {
			t.Fatalf("test setup: the copies are not one aligned and one unaligned")
		}
		for name, pack := range map[string]func(*PackedBF16, Matrix){"PackBF16": PackBF16, "PackBF16N": PackBF16N} {
			var a, b PackedBF16
			pack(&a, w)
			pack(&b, odd)
			if !slices.Equal(a.data, b.data) {
				t.Errorf("%s [%d,%d]: an unaligned source packs differently", name, rows, cols)
			}
		}
	}
}
