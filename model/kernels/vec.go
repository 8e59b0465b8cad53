package kernels

import (
	"math"
)

// Dot returns the dot product of a and b[:len(a)].
func Dot(a, b []float32) float32 {
	return dotF32(a, b[:len(a)])
}

// DotBF16 returns the dot product of a and the bfloat16 words b[:len(a)]
// (a key row of a bf16 KV cache), widening b exactly.
func DotBF16(a []float32, b []uint16) float32 {
	return dotBF16(a, b[:len(a)])
}

// Axpy computes y[i] += alpha * x[i] for i < len(x).
func Axpy(alpha float32, x, y []float32) {
	axpyF32(alpha, x, y[:len(x)])
}

// AxpyBF16 computes y[i] += alpha * x[i] for i < len(x), x holding
// bfloat16 words (a value row of a bf16 KV cache).
func AxpyBF16(alpha float32, x []uint16, y []float32) {
	axpyBF16(alpha, x, y[:len(x)])
}

// Scale computes x[i] *= alpha.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Add computes y[i] += x[i] for i < len(x) (a residual connection).
func Add(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += v
	}
}

// MaxFloat32 returns the largest element of x, NaN if any element is NaN,
// and -Inf for an empty slice.
func MaxFloat32(x []float32) float32 { return maxF32(x) }

func maxGo(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		} else if v != v {
			return v
		}
	}
	return m
}

// SoftmaxInPlace replaces x with softmax(x): subtract the maximum,
// exponentiate, divide by the sum. A NaN anywhere makes every element NaN;
// a slice that is all -Inf (fully masked) becomes NaN too, as in PyTorch.
func SoftmaxInPlace(x []float32) {
	if len(x) == 0 {
		return
	}
	sum := expShiftSum(x, MaxFloat32(x), 1)
	Scale(1/sum, x)
}

// ExpShiftSum replaces every x[i] with e^((x[i] − shift) · scale) and
// returns their float32 sum: the exponentiation step of attention's softmax
// (shift the row maximum, scale 1/sqrt(headDim)). With AVX-512 it runs 16
// lanes at a time (Cephes expf, within 1e-6 relative of math.Exp); results
// below e^-120 are 0 and NaN stays NaN.
func ExpShiftSum(x []float32, shift, scale float32) float32 {
	return expShiftSum(x, shift, scale)
}

// WeightedRowSum writes out[:v.Cols] = Σ_{r < len(p)} p[r] · v.Row(r): the
// attention output of one head, p the softmax row and v the cached values
// [positions, headDim] (F32 or BF16). Head sizes 64 and 128 keep the
// whole output in registers.
func WeightedRowSum(out, p []float32, v Matrix) {
	d := v.Cols
	out = out[:d]
	switch v.DType {
	case F32:
		rowSumF32(out, p, v.F32[:len(p)*d])
	case BF16:
		rowSumBF16(out, p, v.U16[:len(p)*d])
	default:
		clear(out)
		row := make([]float32, d)
		for r, pr := range p {
			v.Row(row, r)
			axpyF32(pr, row, out)
		}
	}
}

// SiLU replaces x[i] with x[i] · sigmoid(x[i]), the activation of the
// SwiGLU gate.
func SiLU(x []float32) { silu(x) }

func siluGo(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + Exp(-v))
	}
}

// Exp returns e**x rounded to float32, within about 1e-7 relative of
// math.Exp over the whole float32 range (overflow gives +Inf, underflow
// subnormals or 0, NaN stays NaN). It is several times faster than
// converting through math.Exp.
func Exp(x float32) float32 {
	const (
		log2e = 1.4426950408889634
		ln2   = 0.6931471805599453
	)
	switch {
	case x != x:
		return x
	case x > 88.8:
		return float32(math.Inf(1))
	case x < -104:
		return 0
	}
	// e**x = 2**n · e**r with |r| <= ln2/2; in float64 the reduction is exact
	// enough and a degree-7 Taylor polynomial leaves < 1e-8 relative error.
	xd := float64(x)
	n := math.Floor(xd*log2e + 0.5)
	r := xd - n*ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(p * math.Float64frombits(uint64(int64(n)+1023)<<52))
}

func expShiftSumGo(x []float32, shift, scale float32) float32 {
	var sum float32
	for i, v := range x {
		e := Exp((v - shift) * scale)
		x[i] = e
		sum += e
	}
	return sum
}

func rowSumF32Go(out, p, v []float32) {
	d := len(out)
	clear(out)
	for r, pr := range p {
		axpyF32(pr, v[r*d:(r+1)*d], out)
	}
}

func rowSumBF16Go(out, p []float32, v []uint16) {
	d := len(out)
	clear(out)
	for r, pr := range p {
		axpyBF16(pr, v[r*d:(r+1)*d], out)
	}
}

// dotRef is the plain k-ordered dot product the tests compare against.
func dotRef(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// The pure-Go kernels. They are the whole implementation under the purego
// tag or off amd64, and the reference the assembly is tested against.

func dotGo(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBF16Go(a []float32, b []uint16) float32 {
	var s0, s1 float32
	b = b[:len(a)]
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += a[i] * math.Float32frombits(uint32(b[i])<<16)
		s1 += a[i+1] * math.Float32frombits(uint32(b[i+1])<<16)
	}
	for ; i < len(a); i++ {
		s0 += a[i] * math.Float32frombits(uint32(b[i])<<16)
	}
	return s0 + s1
}

func dotF16Go(a []float32, b []uint16) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * F16ToFloat32(b[i])
	}
	return s
}

func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func axpyBF16Go(alpha float32, x []uint16, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * math.Float32frombits(uint32(v)<<16)
	}
}

func widenBF16Go(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = math.Float32frombits(uint32(v) << 16)
	}
}

func widenF16Go(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = F16ToFloat32(v)
	}
}

// kernelSet is one implementation of every inner kernel; the package runs
// with the best set the CPU supports, and tests run every available set.
type kernelSet struct {
	name      string
	dot       func(a, b []float32) float32
	dotBF16   func(a []float32, b []uint16) float32
	dotF16    func(a []float32, b []uint16) float32
	axpy      func(alpha float32, x, y []float32)
	axpyBF16  func(alpha float32, x []uint16, y []float32)
	widenBF16 func(dst []float32, src []uint16)
	widenF16  func(dst []float32, src []uint16)
	gemm      func(kc int, x []float32, ldx int, w, c []float32, ldc int, accumulate bool)
	fmaLoop   func(iters int) int // runs iters iterations, returns FLOPs done

	// GEMV over consecutive weight rows: out[r] = x · w[r*k:(r+1)*k] for
	// r < len(out), k = len(x).
	gemvF32  func(out, x, w []float32)
	gemvBF16 func(out, x []float32, w []uint16)
	gemvF16  func(out, x []float32, w []uint16)

	// expShiftSum sets x[i] = exp((x[i] - shift)·scale), returns Σ x[i].
	expShiftSum func(x []float32, shift, scale float32) float32
	// rowSum* set out = Σ_r p[r] · v[r*d:(r+1)*d], d = len(out).
	rowSumF32  func(out, p, v []float32)
	rowSumBF16 func(out, p []float32, v []uint16)

	maxF32 func(x []float32) float32 // MaxFloat32
	silu   func(x []float32)         // SiLU
	// pack32 writes weight rows [r0, r0+32), columns [pc, pc+kc), as the
	// columns of dst [kc][32], or reports false when it cannot (then the
	// caller packs in Go). nil: always Go.
	pack32 func(dst []float32, w Matrix, r0, pc, kc int) bool
}

var goKernels = kernelSet{
	name:      "go",
	dot:       dotGo,
	dotBF16:   dotBF16Go,
	dotF16:    dotF16Go,
	axpy:      axpyGo,
	axpyBF16:  axpyBF16Go,
	widenBF16: widenBF16Go,
	widenF16:  widenF16Go,
	gemm:      gemmKernelGo,
	fmaLoop:   fmaLoopGo,
	gemvF32:   func(out, x, w []float32) { gemvRowsF32(out, x, w, dotGo) },
	gemvBF16:  func(out, x []float32, w []uint16) { gemvRows16(out, x, w, dotBF16Go) },
	gemvF16:   func(out, x []float32, w []uint16) { gemvRows16(out, x, w, dotF16Go) },

	expShiftSum: expShiftSumGo,
	rowSumF32:   rowSumF32Go,
	rowSumBF16:  rowSumBF16Go,
	maxF32:      maxGo,
	silu:        siluGo,
}

// gemvRowsF32 is a GEMV over rows as one dot product per row.
func gemvRowsF32(out, x, w []float32, dot func(a, b []float32) float32) {
	k := len(x)
	w = w[:len(out)*k]
	for r := range out {
		out[r] = dot(x, w[r*k:(r+1)*k])
	}
}

// gemvRows16 is gemvRowsF32 for 16-bit weights.
func gemvRows16(out, x []float32, w []uint16, dot func(a []float32, b []uint16) float32) {
	k := len(x)
	w = w[:len(out)*k]
	for r := range out {
		out[r] = dot(x, w[r*k:(r+1)*k])
	}
}

// The kernels in use; set once at init by use(best()).
var (
	active     kernelSet
	dotF32     func(a, b []float32) float32
	dotBF16    func(a []float32, b []uint16) float32
	dotF16     func(a []float32, b []uint16) float32
	axpyF32    func(alpha float32, x, y []float32)
	axpyBF16   func(alpha float32, x []uint16, y []float32)
	widenBF16  func(dst []float32, src []uint16)
	widenF16   func(dst []float32, src []uint16)
	gemmKernel func(kc int, x []float32, ldx int, w, c []float32, ldc int, accumulate bool)
	gemvF32    func(out, x, w []float32)
	gemvBF16   func(out, x []float32, w []uint16)
	gemvF16    func(out, x []float32, w []uint16)

	expShiftSum func(x []float32, shift, scale float32) float32
	rowSumF32   func(out, p, v []float32)
	rowSumBF16  func(out, p []float32, v []uint16)
	maxF32      func(x []float32) float32
	silu        func(x []float32)
	pack32      func(dst []float32, w Matrix, r0, pc, kc int) bool
)

func init() { use(best()) }

// use installs a kernel set. Only init and tests call it (not safe while
// kernels run).
func use(ks kernelSet) {
	active = ks
	dotF32, dotBF16, dotF16 = ks.dot, ks.dotBF16, ks.dotF16
	axpyF32, axpyBF16 = ks.axpy, ks.axpyBF16
	widenBF16, widenF16 = ks.widenBF16, ks.widenF16
	gemmKernel = ks.gemm
	gemvF32, gemvBF16, gemvF16 = ks.gemvF32, ks.gemvBF16, ks.gemvF16
	expShiftSum, rowSumF32, rowSumBF16 = ks.expShiftSum, ks.rowSumF32, ks.rowSumBF16
	maxF32, silu, pack32 = ks.maxF32, ks.silu, ks.pack32
}

// Implementation names the kernel set in use ("avx512", "avx2" or "go").
func Implementation() string { return active.name }
