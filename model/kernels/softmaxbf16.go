package kernels

import "math"

// ExpShiftSumBF16 is bf16 prefill attention's softmax pass over one row of
// a score tile: p[i] = bf16(e_i) (nearest even, subnormals as zero, as
// RoundBF16) with e_i ≈ exp((x[i] - shift)·scale), and it returns Σ e_i
// in float32; x is only read. P·V reads the weights as bf16, so e_i needs
// no float32 accuracy: it is 2^t with t = x·c - shift·c (c = scale·log2 e,
// one fused multiply-add), 2^t = 2^n · q(t - n) with n = round(t) and q a
// degree-4 minimax polynomial of relative error 2.7e-6 on [-1/2, 1/2] (the
// bf16 rounding of e_i is 2e-3). That is 13 vector instructions per 16
// lanes, the bf16 conversion and the sum included, against the float32
// exp's 20 and a rounding pass, and no float32 row is stored.
// t is clamped to [-160, 129]: 2^-160 is 0 in float32, so a masked -Inf
// score weighs exactly 0, and q·2^129 overflows to +Inf without reaching
// VSCALEFPS's infinite-exponent cases (which differ between CPUs).
//
// Its arithmetic is the same on every CPU: the elements in 16 lanes
// (summed per lane, then the lanes in a tree), a length that is not a
// multiple of 16 padded with -Inf scores (weight 0), so the sum is the one
// x followed by masked scores up to the next multiple of 16 gets (a row
// of scores cut at a chunk's end sums as the same row in a longer tile);
// expShiftSumBF16Go is the bit-identical twin of the AVX-512 code (NaN
// payloads aside: a NaN stays NaN).
func ExpShiftSumBF16(p []uint16, x []float32, shift, scale float32) float32 {
	p = p[:len(x)]
	mul := scale * log2eF32
	add := -(shift * mul)
	if len(x)%16 == 0 {
		if len(x) == 0 {
			return 0
		}
		return expShiftSumBF16(p, x, mul, add)
	}
	padded := (len(x) + 15) &^ 15
	s := scratchPool.Get().(*scratch)
	s.row = grow(s.row, padded)
	s.xbf16 = grow16(s.xbf16, padded)
	xs, ps := s.row[:padded], s.xbf16[:padded]
	copy(xs, x)
	for i := len(x); i < padded; i++ {
		xs[i] = float32(math.Inf(-1))
	}
	sum := expShiftSumBF16(ps, xs, mul, add)
	copy(p, ps)
	scratchPool.Put(s)
	return sum
}

// log2eF32 is log2 e rounded to float32.
var log2eF32 = float32(math.Log2E)

// exp2Coeffs are q's coefficients, constant term first (minimax for the
// relative error of 2^f on [-1/2, 1/2]); the same bits are broadcast in
// softmax_amd64.s.
var exp2Coeffs = [5]float32{
	math.Float32frombits(0x3f7ffff4), // 0.9999992847
	math.Float32frombits(0x3f31706e), // 0.6931217909
	math.Float32frombits(0x3e76036d), // 0.2402474433
	math.Float32frombits(0x3d650a20), // 0.05591785908
	math.Float32frombits(0x3c1ccbeb), // 0.009570102207
}

// exp2Poly4 is one lane of the assembly after its multiply-add: 2^t as
// VMAXPS and VMINPS (clamp to [-160, 129]), VRNDSCALEPS (n, nearest even), VSUBPS (f = t -
// n, exact), four VFMADD213PS (Horner) and VSCALEFPS (q·2^n, rounded once)
// compute it.
func exp2Poly4(t float32) float32 {
	if t != t {
		return t // every later operation propagates a NaN
	}
	t = min(max(t, -160), 129)
	n := float32(math.RoundToEven(float64(t)))
	f := t - n
	q := exp2Coeffs[4]
	for j := 3; j >= 0; j-- {
		q = fma32(f, q, exp2Coeffs[j])
	}
	// VSCALEFPS: q·2^n rounded once (float64 holds the product exactly;
	// the conversion rounds to nearest even, subnormals included).
	return float32(math.Ldexp(float64(q), int(n)))
}

// expShiftSumBF16Go is the twin of expShiftSumBF16AVX512 (len(x) a
// multiple of 16): every lane's operations in the assembly's order with
// its roundings, the sum in 16 lanes reduced as REDUCE16 does.
func expShiftSumBF16Go(p []uint16, x []float32, mul, add float32) float32 {
	p = p[:len(x)]
	var acc [16]float32
	for i, v := range x {
		e := exp2Poly4(fma32(v, mul, add))
		p[i] = Float32ToBF16(flushSubnormal(e))
		acc[i%16] += e
	}
	return reduce16(&acc)
}

// fma32 returns a·b + c rounded once to float32, as VFMADD*PS does. The
// product is exact in float64; the float64 sum is rounded to odd, which
// then rounds to float32 as the exact sum would (no double rounding).
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	cd := float64(c)
	s := p + cd
	if s != s || math.IsInf(s, 0) {
		return float32(s)
	}
	bb := s - p
	if e := (p - (s - bb)) + (cd - bb); e != 0 {
		if bits := math.Float64bits(s); bits&1 == 0 {
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}

// reduce16 sums 16 lanes as REDUCE16 does: lane i and i+8, then i and
// i+4, then i and i^2, then i and i^1.
func reduce16(a *[16]float32) float32 {
	var s1 [8]float32
	for i := range s1 {
		s1[i] = a[i] + a[i+8]
	}
	var s2 [4]float32
	for i := range s2 {
		s2[i] = s1[i] + s1[i+4]
	}
	return (s2[0] + s2[2]) + (s2[1] + s2[3])
}

// SoftmaxTileBF16 is one step of bf16 prefill attention's online softmax
// over a tile of scores s [rows, n] in which no key is masked (n a
// positive multiple of 16), one call for the whole tile instead of three
// per row. Per row i, with m = max(rowMax[i], max_j s[i, j]):
// p[i·ldp + j] = bf16(e^((s[i, j] - m)·scale)) as ExpShiftSumBF16 computes
// it, sums[i] = Σ_j of those exponentials, alpha[i] = e^((rowMax[i] -
// m)·scale) by the same exponential (0 when rowMax[i] is -Inf: the first
// tile; it rescales the row's sum and output alike, so its error cancels;
// exactly 1 when the max did not change, which spares the caller the
// rescaling) and rowMax[i] = m. NaN scores give NaN sums.
func SoftmaxTileBF16(p []uint16, ldp int, s []float32, n, rows int, scale float32, rowMax, alpha, sums []float32) {
	if rows <= 0 {
		return
	}
	if n <= 0 || n%16 != 0 || ldp < n {
		panic("kernels: SoftmaxTileBF16 needs n a positive multiple of 16 and ldp >= n")
	}
	_, _, _ = s[rows*n-1], p[(rows-1)*ldp+n-1], rowMax[rows-1]
	_, _ = alpha[rows-1], sums[rows-1]
	softmaxTileBF16(p, ldp, s, n, rows, scale*log2eF32, rowMax, alpha, sums)
}

// RescaleBF16 is the factor SoftmaxTileBF16 gives a row whose running max
// moves from old to m (m >= old): e^((old - m)·scale) by ExpShiftSumBF16's
// exponential, exactly 1 when m == old and 0 when old is -Inf. A row that
// takes the row-by-row step of bf16 attention rescales by it too, so the
// bits of a row do not depend on which of the two steps a tile took.
func RescaleBF16(old, m, scale float32) float32 {
	if m == old {
		return 1
	}
	mul := scale * log2eF32
	return exp2Poly4(fma32(old, mul, -(m * mul)))
}

// softmaxTileBF16Go is the twin of softmaxTileBF16AVX512: the max in 16
// lanes and four chains, and the same butterfly (VMAXPS keeps its first
// operand only when it is the greater), whose lane 0 is the row's max, then
// the exponentials of ExpShiftSumBF16's body shifted by that one max. (A
// NaN score can leave the lanes of the butterfly unequal; lane 0 alone is
// what ExpShiftSumBF16's scalar max would be.)
func softmaxTileBF16Go(p []uint16, ldp int, s []float32, n, rows int, mul float32, rowMax, alpha, sums []float32) {
	for i := 0; i < rows; i++ {
		row := s[i*n : (i+1)*n]
		// Four chains of lane maxima, vector j in chain j mod 4, each
		// starting from vector 0; then (0 with 1) with (2 with 3).
		var chains [4][16]float32
		for c := range chains {
			copy(chains[c][:], row[:16])
		}
		for j := 1; j < n/16; j++ {
			c := &chains[j%4]
			for l := range c {
				c[l] = maxps(c[l], row[j*16+l])
			}
		}
		var m [16]float32
		for l := range m {
			m[l] = maxps(maxps(chains[0][l], chains[1][l]), maxps(chains[2][l], chains[3][l]))
		}
		for _, flip := range []int{8, 4, 2, 1} { // VSHUFF32X4 0x4e, 0xb1, VPERMILPS 0x4e, 0xb1
			t := m
			for l := range m {
				m[l] = maxps(m[l], t[l^flip])
			}
		}
		old := rowMax[i]
		m0 := maxps(m[0], old)
		mm := m0 * mul
		alpha[i] = exp2Poly4(fma32(old, mul, -mm))
		if m0 == old {
			alpha[i] = 1
		}
		rowMax[i] = m0
		var acc [16]float32
		for j, v := range row {
			e := exp2Poly4(fma32(v, mul, -mm))
			p[i*ldp+j] = Float32ToBF16(flushSubnormal(e))
			acc[j%16] += e
		}
		sums[i] = reduce16(&acc)
	}
}

// maxps is VMAXPS's a > b ? a : b (b when either is NaN).
func maxps(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}
