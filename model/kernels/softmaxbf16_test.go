package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestFMA32RoundsOnce(t *testing.T) {
	// a·b = 2^-24 + 2^-60 exactly ((1+2^-12)·2^-24 times 1-2^-12+2^-24),
	// so 1 + a·b lies just above the midpoint of 1 and 1+2^-23: rounded
	// once it is 1+2^-23. Through float64 first, the 2^-60 is lost and the
	// tie goes to the even 1.
	a := float32((1 + 0x1p-12) * 0x1p-24)
	b := float32(1 - 0x1p-12 + 0x1p-24)
	if got := fma32(a, b, 1); math.Float32bits(got) != 0x3f800001 {
		t.Errorf("fma32 = %#x, want 0x3f800001 (1+2^-23)", math.Float32bits(got))
	}
	if naive := float32(float64(a)*float64(b) + 1); naive != 1 {
		t.Errorf("the example is no double-rounding case: float64 path gives %#x", math.Float32bits(naive))
	}
	// Exact cases: 3·4 - 12 = 0, and 1.5·2 + 0.25.
	if fma32(3, 4, -12) != 0 || fma32(1.5, 2, 0.25) != 3.25 {
		t.Errorf("fma32 exact cases: %v, %v", fma32(3, 4, -12), fma32(1.5, 2, 0.25))
	}
}

func TestExpShiftSumBF16(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		// The softmax domain (x - shift)·scale in [-130, 0] with a ragged
		// tail, as in TestExpShiftSumMatchesMath.
		const n = 20000 + 7
		const shift, scale = 0.5, 0.125
		x := make([]float32, n)
		for i := range x {
			x[i] = -130*float32(i)/n/scale + shift
		}
		in := append([]float32(nil), x...)
		p := make([]uint16, n)
		sum := ExpShiftSumBF16(p, x, shift, scale)
		var want float64
		for i, v := range in {
			if v != x[i] {
				t.Fatalf("x[%d] written: %v, was %v", i, x[i], v)
			}
			arg := (float64(v) - shift) * scale
			e := math.Exp(arg)
			want += e
			// q's 2.7e-6, and t = x·c - shift·c rounded in float32
			// (about 6e-8·|arg| relative to e).
			tol := 3e-6 + 1.2e-7*math.Abs(arg)
			got := float64(BF16ToFloat32(p[i]))
			switch {
			case e < 0x1p-126:
				if p[i] != 0 {
					t.Fatalf("exp(%g) = %g is subnormal: bf16 %#x, want 0", arg, e, p[i])
				}
			case math.Abs(got-e) > (0x1p-8+tol)*e:
				t.Fatalf("exp(%g): bf16 %#x = %g, want %g within half a bf16 ulp", arg, p[i], got, e)
			}
		}
		if math.Abs(float64(sum)-want) > 1e-5*want {
			t.Errorf("sum %g, want %g", sum, want)
		}
	})
}

// TestExpShiftSumBF16PaddedTail: a row whose length is not a multiple of
// 16 gets the sum and the weights of the same row followed by masked
// (-Inf) scores up to the next multiple, bit for bit: prefill attention
// cuts a row's last key tile at its block's end, which depends on where
// the chunk started, and the row must sum the same either way.
func TestExpShiftSumBF16PaddedTail(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(43, 44))
		for n := 1; n <= 80; n++ {
			padded := (n + 15) &^ 15
			x := make([]float32, padded)
			for i := range x {
				x[i] = float32(r.NormFloat64() * 3)
			}
			for i := n; i < padded; i++ {
				x[i] = float32(math.Inf(-1))
			}
			shift, scale := float32(2.5), float32(0.35)
			p, q := make([]uint16, padded), make([]uint16, n)
			want := ExpShiftSumBF16(p, x, shift, scale)
			got := ExpShiftSumBF16(q, x[:n], shift, scale)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("n=%d: sum %v, padded to %d: %v", n, got, padded, want)
			}
			for i := range q {
				if q[i] != p[i] {
					t.Fatalf("n=%d: weight %d = %#x, padded %#x", n, i, q[i], p[i])
				}
			}
		}
	})
}

// TestExpShiftSumBF16HandValues: 2^0 is q's constant term exactly, a
// masked (-Inf) score weighs exactly 0, and 2^1 and 2^-1 are 2 and 1/2
// times q(0) (f = 0: VSCALEFPS is exact).
func TestExpShiftSumBF16HandValues(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		inf := float32(math.Inf(-1))
		x := make([]float32, 32)
		for i := range x {
			x[i] = inf
		}
		x[0] = 0
		p := make([]uint16, 32)
		if sum := ExpShiftSumBF16(p, x, 0, 1); math.Float32bits(sum) != 0x3f7ffff4 {
			t.Errorf("one 0 and 31 -Inf: sum %#x, want 0x3f7ffff4 (q(0) = 0.9999992847)", math.Float32bits(sum))
		}
		if p[0] != 0x3f80 {
			t.Errorf("bf16(q(0)) = %#x, want 0x3f80 (1)", p[0])
		}
		for i := 1; i < 32; i++ {
			if p[i] != 0 {
				t.Fatalf("masked p[%d] = %#x, want 0", i, p[i])
			}
		}
		// A scale whose c = scale·log2 e rounds to 1/4 makes t = x/4
		// exactly: x = 4, -4, 0, 8 give t = 1, -1, 0, 2.
		scale := float32(0.25) / log2eF32
		if mul := scale * log2eF32; mul != 0.25 {
			t.Fatalf("scale %v·log2 e rounds to %v, not 1/4: pick another scale", scale, mul)
		}
		x = []float32{4, -4, 0, 8}
		p = make([]uint16, 4)
		q0 := math.Float32frombits(0x3f7ffff4)
		want := q0*2 + q0/2 + q0 + q0*4
		if sum := ExpShiftSumBF16(p, x, 0, scale); sum != want {
			t.Errorf("2^1 + 2^-1 + 2^0 + 2^2: sum %v, want %v", sum, want)
		}
		if fmt.Sprintf("%#x", p) != "[0x4000 0x3f00 0x3f80 0x4080]" {
			t.Errorf("bf16 %#x, want [0x4000 0x3f00 0x3f80 0x4080]", p)
		}
	})
}

// softmaxRows returns rows that exercise the exp kernel: the softmax
// domain, results that are subnormal or round to a bf16 tie, -Inf (masked)
// and NaN scores, a NaN shift, infinities and random bit patterns.
func softmaxRows(r *rand.Rand) (rows [][]float32, shifts []float32) {
	nan := math.Float32frombits(0x7fc01234)
	add := func(row []float32, shift float32) {
		rows = append(rows, row)
		shifts = append(shifts, shift)
	}
	for _, n := range []int{16, 32, 48, 128, 1024} {
		row := make([]float32, n)
		for i := range row {
			row[i] = 3 - 140*r.Float32()
		}
		add(row, 3)
	}
	// exp results in the subnormal range: t in [-104, -87].
	sub := make([]float32, 256)
	for i := range sub {
		sub[i] = -87 - 17*r.Float32()
	}
	add(sub, 0)
	// Inputs whose exponential rounds to a bf16 tie (low 16 bits 0x8000).
	var ties []float32
	for len(ties) < 64 {
		v := -20 * r.Float32()
		if math.Float32bits(exp2Poly4(fma32(v, log2eF32, 0)))&0xffff == 0x8000 {
			ties = append(ties, v)
		}
	}
	add(ties, 0)
	special := make([]float32, 64)
	for i := range special {
		special[i] = -5 * r.Float32()
	}
	special[1] = float32(math.Inf(-1))
	special[5] = nan
	special[17] = -nan
	special[18] = math.Float32frombits(0x7f800001) // signalling NaN
	special[30] = float32(math.Inf(1))
	special[31] = math.Float32frombits(1) // subnormal input
	special[40] = 88
	special[41] = 89 // overflows to +Inf
	add(special, 0)
	huge := make([]float32, 16) // t far above 0: 2^n overflows
	for i := range huge {
		huge[i] = float32(i) * 1e5
	}
	huge[15] = 3e38
	add(huge, 0)
	masked := make([]float32, 48)
	for i := range masked {
		masked[i] = float32(math.Inf(-1))
		if i < 20 {
			masked[i] = -r.Float32()
		}
	}
	add(masked, 0)
	add(append([]float32(nil), special...), nan) // a row with a NaN max
	bits := make([]float32, 512)
	for i := range bits {
		bits[i] = math.Float32frombits(r.Uint32())
	}
	add(bits, 0)
	return rows, shifts
}

// bf16AsmSets returns the kernel sets of this CPU with AVX512_BF16 (they
// carry the assembly softmax kernels), skipping t when there is none: the
// Go twin is then all that runs, and the other tests cover it.
func bf16AsmSets(t *testing.T) []kernelSet {
	var sets []kernelSet
	for _, ks := range available() {
		if ks.bf16Dot {
			sets = append(sets, ks)
		}
	}
	if len(sets) == 0 {
		t.Skip("no AVX512_BF16 on this CPU: only the Go twin runs")
	}
	return sets
}

func TestExpShiftSumBF16MatchesTwin(t *testing.T) {
	sets := bf16AsmSets(t)
	r := rand.New(rand.NewPCG(41, 42))
	rows, shifts := softmaxRows(r)
	for _, ks := range sets {
		for k, row := range rows {
			for _, scale := range []float32{1, 0.125} {
				mul := scale * log2eF32
				add := -(shifts[k] * mul)
				pa, pg := make([]uint16, len(row)), make([]uint16, len(row))
				sa := ks.expShiftSumBF16(pa, row, mul, add)
				sg := expShiftSumBF16Go(pg, row, mul, add)
				if !sameF32(sa, sg) {
					t.Errorf("%s row %d scale %v: sum %#x, twin %#x", ks.name, k, scale, math.Float32bits(sa), math.Float32bits(sg))
				}
				for i := range row {
					if !sameBF16(pa[i], pg[i]) {
						t.Fatalf("%s row %d scale %v, x=%#x shift %v: bf16 %#x, twin %#x", ks.name, k, scale,
							math.Float32bits(row[i]), shifts[k], pa[i], pg[i])
					}
				}
			}
		}
	}
}

// sameF32 reports whether a and b have the same bits or are both NaN (the
// twin does not model NaN payloads).
func sameF32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// sameBF16 is sameF32 for bf16 words.
func sameBF16(a, b uint16) bool { return sameF32(BF16ToFloat32(a), BF16ToFloat32(b)) }

// TestExpShiftSumBF16SameEverywhere: the public kernel, tails included,
// gives the same bits on every kernel set (the twin where there is no
// assembly).
func TestExpShiftSumBF16SameEverywhere(t *testing.T) {
	defer use(best())
	r := rand.New(rand.NewPCG(43, 44))
	rows, shifts := softmaxRows(r)
	for _, n := range []int{1, 7, 15, 17, 100, 131} {
		row := make([]float32, n)
		for i := range row {
			row[i] = -30 * r.Float32()
		}
		rows, shifts = append(rows, row), append(shifts, 0)
	}
	type result struct {
		p   []uint16
		sum float32
	}
	var ref []result
	for si, ks := range available() {
		use(ks)
		for k, row := range rows {
			p := make([]uint16, len(row))
			sum := ExpShiftSumBF16(p, row, shifts[k], 0.125)
			if si == 0 {
				ref = append(ref, result{p, sum})
				continue
			}
			w := ref[k]
			if !sameF32(sum, w.sum) {
				t.Errorf("%s row %d: sum %#x, %s %#x", ks.name, k, math.Float32bits(sum), available()[0].name, math.Float32bits(w.sum))
			}
			for i := range p {
				if !sameBF16(p[i], w.p[i]) {
					t.Fatalf("%s row %d element %d: %#x, want %#x", ks.name, k, i, p[i], w.p[i])
				}
			}
		}
	}
}

// BenchmarkExpShiftSumBF16 times bf16 attention's softmax pass over 256
// rows of a 128-key tile: this kernel, and the float32 exp and rounding
// pass it replaces.
func BenchmarkExpShiftSumBF16(b *testing.B) {
	const rows, tile = 256, 128
	r := rand.New(rand.NewPCG(45, 46))
	src := make([]float32, rows*tile)
	for i := range src {
		src[i] = -10 * r.Float32()
	}
	x, p := make([]float32, len(src)), make([]uint16, len(src))
	b.Run("fused", func(b *testing.B) {
		for b.Loop() {
			for i := 0; i < rows; i++ {
				ExpShiftSumBF16(p[i*tile:(i+1)*tile], src[i*tile:(i+1)*tile], 0, 0.125)
			}
		}
	})
	b.Run("two-pass", func(b *testing.B) {
		for b.Loop() {
			copy(x, src)
			for i := 0; i < rows; i++ {
				ExpShiftSum(x[i*tile:(i+1)*tile], 0, 0.125)
			}
			RoundBF16(p, x)
		}
	})
	b.Run("copy-only", func(b *testing.B) {
		for b.Loop() {
			copy(x, src)
		}
	})
}

// tileCase is a SoftmaxTileBF16 input: rows of n scores and their running
// maxima before the step.
type tileCase struct {
	s      []float32
	n      int
	rowMax []float32
}

// tileCases returns tiles of softmax-domain scores (first tiles with
// rowMax -Inf, later ones with rowMax below, at and above the rows'
// maxima), and tiles with NaN, infinite, signed-zero and random-bit scores.
func tileCases(r *rand.Rand) []tileCase {
	var cases []tileCase
	inf := float32(math.Inf(1))
	// n = 16 .. 256: the max's four chains end with 0-3 vectors left
	// after whole rounds of four.
	for _, n := range []int{16, 32, 48, 64, 80, 128, 256} {
		for _, rows := range []int{1, 3, 8} {
			c := tileCase{s: make([]float32, rows*n), n: n, rowMax: make([]float32, rows)}
			for i := range c.s {
				c.s[i] = 8 - 16*r.Float32()
			}
			for i := range c.rowMax {
				c.rowMax[i] = []float32{-inf, -20, 0, 7.5, 30}[i%5]
			}
			cases = append(cases, c)
		}
	}
	special := tileCase{s: make([]float32, 4*32), n: 32, rowMax: []float32{-inf, 1, float32(math.NaN()), 0}}
	for i := range special.s {
		special.s[i] = -3 * r.Float32()
	}
	special.s[3] = float32(math.NaN())
	special.s[32+17] = inf
	special.s[64+5] = -inf
	special.s[96] = float32(math.Copysign(0, -1))
	special.s[97] = 0
	cases = append(cases, special)
	bits := tileCase{s: make([]float32, 4*64), n: 64, rowMax: make([]float32, 4)}
	for i := range bits.s {
		bits.s[i] = math.Float32frombits(r.Uint32())
	}
	for i := range bits.rowMax {
		bits.rowMax[i] = math.Float32frombits(r.Uint32())
	}
	return append(cases, bits)
}

// runTile runs f on a copy of c (p with one pad word per row) and returns
// what it wrote.
func runTile(c tileCase, scale float32, f func(p []uint16, ldp int, s []float32, n, rows int, scale float32, rowMax, alpha, sums []float32)) (p []uint16, rowMax, alpha, sums []float32) {
	rows, ldp := len(c.rowMax), c.n+2
	p = make([]uint16, rows*ldp)
	rowMax = append([]float32(nil), c.rowMax...)
	alpha, sums = make([]float32, rows), make([]float32, rows)
	f(p, ldp, c.s, c.n, rows, scale, rowMax, alpha, sums)
	return p, rowMax, alpha, sums
}

func TestSoftmaxTileBF16MatchesTwin(t *testing.T) {
	sets := bf16AsmSets(t)
	twin := func(p []uint16, ldp int, s []float32, n, rows int, scale float32, rowMax, alpha, sums []float32) {
		softmaxTileBF16Go(p, ldp, s, n, rows, scale*log2eF32, rowMax, alpha, sums)
	}
	for _, ks := range sets {
		asm := func(p []uint16, ldp int, s []float32, n, rows int, scale float32, rowMax, alpha, sums []float32) {
			ks.softmaxTileBF16(p, ldp, s, n, rows, scale*log2eF32, rowMax, alpha, sums)
		}
		for k, c := range tileCases(rand.New(rand.NewPCG(51, 52))) {
			for _, scale := range []float32{1, 0.125} {
				pa, ma, aa, sa := runTile(c, scale, asm)
				pg, mg, ag, sg := runTile(c, scale, twin)
				for i := range ma {
					if !sameF32(ma[i], mg[i]) || !sameF32(aa[i], ag[i]) || !sameF32(sa[i], sg[i]) {
						t.Errorf("%s case %d scale %v row %d: max %v alpha %v sum %v, twin %v %v %v", ks.name, k, scale, i, ma[i], aa[i], sa[i], mg[i], ag[i], sg[i])
					}
				}
				for j := range pa {
					if !sameBF16(pa[j], pg[j]) {
						t.Fatalf("%s case %d scale %v: p[%d] = %#x, twin %#x", ks.name, k, scale, j, pa[j], pg[j])
					}
				}
			}
		}
	}
}

// TestSoftmaxTileBF16IsRowKernel: on finite scores each row is exactly
// ExpShiftSumBF16 at the new max (so full tiles and masked ones, which
// attention computes row by row, use one function), the max is the
// larger of the old and the row's, and alpha is e^((old - m)·scale)
// within the polynomial's error, with RescaleBF16's bits (the factor of
// attention's row-by-row step).
func TestSoftmaxTileBF16IsRowKernel(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		for k, c := range tileCases(rand.New(rand.NewPCG(53, 54)))[:21] {
			const scale = 0.125
			p, rowMax, alpha, sums := runTile(c, scale, SoftmaxTileBF16)
			for i, old := range c.rowMax {
				row := c.s[i*c.n : (i+1)*c.n]
				m := old
				for _, v := range row {
					m = max(m, v)
				}
				if rowMax[i] != m {
					t.Fatalf("case %d row %d: max %v, want %v", k, i, rowMax[i], m)
				}
				want := make([]uint16, c.n)
				wantSum := ExpShiftSumBF16(want, row, m, scale)
				if math.Float32bits(sums[i]) != math.Float32bits(wantSum) {
					t.Errorf("case %d row %d: sum %#x, ExpShiftSumBF16's %#x", k, i, math.Float32bits(sums[i]), math.Float32bits(wantSum))
				}
				for j, w := range want {
					if p[i*(c.n+2)+j] != w {
						t.Fatalf("case %d row %d: p[%d] = %#x, ExpShiftSumBF16's %#x", k, i, j, p[i*(c.n+2)+j], w)
					}
				}
				a := math.Exp((float64(old) - float64(m)) * scale)
				if math.Abs(float64(alpha[i])-a) > 1e-5*a {
					t.Errorf("case %d row %d: alpha %v, want %v", k, i, alpha[i], a)
				}
				if r := RescaleBF16(old, m, scale); math.Float32bits(alpha[i]) != math.Float32bits(r) {
					t.Errorf("case %d row %d: alpha %#x, RescaleBF16's %#x", k, i, math.Float32bits(alpha[i]), math.Float32bits(r))
				}
			}
		}
	})
}

// TestRescaleBF16HandValues: with scale·log2 e = 1/4, a max moving from 0
// to 4 gives 2^-1·q(0) (q's constant term, halved exactly); an unchanged
// max gives exactly 1, and the first tile (old -Inf) exactly 0.
func TestRescaleBF16HandValues(t *testing.T) {
	scale := float32(0.25) / log2eF32
	if got, want := RescaleBF16(0, 4, scale), math.Float32frombits(0x3f7ffff4)/2; got != want {
		t.Errorf("RescaleBF16(0, 4) = %v, want %v", got, want)
	}
	if got := RescaleBF16(3, 3, scale); got != 1 {
		t.Errorf("RescaleBF16(3, 3) = %v, want 1", got)
	}
	if got := RescaleBF16(float32(math.Inf(-1)), 3, scale); got != 0 {
		t.Errorf("RescaleBF16(-Inf, 3) = %v, want 0", got)
	}
}

// TestSoftmaxTileBF16HandValues: with scale·log2 e = 1/4, scores 4 and 0
// under an old max of 0 give m = 4, 2^0 and 2^-1 weights (q(0) and q(0)/2,
// bf16 1 and 1/2) and alpha 2^-1; under an old max of 4, alpha 1.
func TestSoftmaxTileBF16HandValues(t *testing.T) {
	forEachKernelSet(t, func(t *testing.T) {
		scale := float32(0.25) / log2eF32
		s := make([]float32, 16)
		s[0] = 4
		q0 := float64(math.Float32frombits(0x3f7ffff4))
		p, rowMax, alpha, sums := runTile(tileCase{s: s, n: 16, rowMax: []float32{0}}, scale, SoftmaxTileBF16)
		if rowMax[0] != 4 || float64(alpha[0]) != q0/2 {
			t.Errorf("max %v alpha %v, want 4 and q(0)/2 = %v", rowMax[0], alpha[0], q0/2)
		}
		if want := q0 + 15*q0/2; math.Abs(float64(sums[0])-want) > 1e-6*want {
			t.Errorf("sum %v, want %v", sums[0], want)
		}
		if p[0] != 0x3f80 || p[1] != 0x3f00 || p[15] != 0x3f00 {
			t.Errorf("p %#x, want 0x3f80 then 0x3f00", p[:16])
		}
		// The same step again: the max stays 4, so alpha is 1 exactly
		// (q(0) would be 0.9999993).
		_, rowMax, alpha, _ = runTile(tileCase{s: s, n: 16, rowMax: []float32{4}}, scale, SoftmaxTileBF16)
		if rowMax[0] != 4 || alpha[0] != 1 {
			t.Errorf("unchanged max: max %v alpha %v, want 4 and exactly 1", rowMax[0], alpha[0])
		}
	})
}

// BenchmarkSoftmaxTileBF16 times one 128x256 tile's softmax step (bf16
// attention's shape): one call, and the per-row calls it replaces.
func BenchmarkSoftmaxTileBF16(b *testing.B) {
	const rows, tile = 128, 256
	r := rand.New(rand.NewPCG(55, 56))
	s := make([]float32, rows*tile)
	for i := range s {
		s[i] = 8 - 16*r.Float32()
	}
	p := make([]uint16, rows*tile)
	rowMax, alpha, sums := make([]float32, rows), make([]float32, rows), make([]float32, rows)
	b.Run("tile", func(b *testing.B) {
		for b.Loop() {
			SoftmaxTileBF16(p, tile, s, tile, rows, 0.125, rowMax, alpha, sums)
		}
	})
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			for i := range rows {
				row := s[i*tile : (i+1)*tile]
				m := max(rowMax[i], MaxFloat32(row))
				sums[i] = ExpShiftSumBF16(p[i*tile:(i+1)*tile], row, m, 0.125)
				alpha[i] = Exp((rowMax[i] - m) * 0.125)
				rowMax[i] = m
			}
		}
	})
}
