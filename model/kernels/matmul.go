package kernels

import "fmt"

// Blocking of the GEMM path. gemmMR x gemmNR is the micro-kernel's output
// tile (8 activation rows x 32 weight rows, 16 ZMM accumulators); gemmKC is
// the depth of one packed weight block (32 rows x 256 floats = 32 KB, so a
// micro-panel stays in L1 while it is reused across activation rows);
// gemmMC is how many activation rows share one packed block before the next
// block is visited (keeps x[gemmMC, gemmKC] in L2).
//
// Only gemmKC changes the order of the floating-point additions (each output
// is the sum of its gemmKC-deep partial sums, in k order); the thread count
// and the unit size never do, which is what makes MatMul deterministic across
// --threads.
const (
	gemmMR = 8
	gemmNR = 32
	gemmKC = 256
	gemmMC = 128

	// gemvMaxM is the largest m that takes the GEMV path: each weight row is
	// read from memory once and dotted with every activation row.
	gemvMaxM = 3

	// parallelMACs is the smallest m*n*k worth waking helper goroutines for.
	parallelMACs = 1 << 19
)

// MinGEMMRows is the fewest activation rows MatMul multiplies on its GEMM
// path, whose sums do not depend on m; fewer take the GEMV path, which
// sums in another order.
const MinGEMMRows = gemvMaxM + 1

// MatMul computes out[m, n] = x[m, k] · w[n, k]ᵀ where n = w.Rows and
// k = w.Cols. out must hold m*n floats and x m*k floats. out is overwritten.
//
// m <= 3 takes a GEMV path that streams each weight row once; larger m a
// blocked GEMM that widens each weight block once and reuses it across all
// activation rows. Work is split across Threads() goroutines; the result
// bits do not depend on the thread count. MatMul panics if out, x or w are
// shorter than the shapes require (a programming error, not an input error).
func MatMul(out, x []float32, m int, w Matrix) {
	matMul(out, x, m, w, m*w.Rows*w.Cols >= parallelMACs)
}

// matMul is MatMul, split across the pool only when parallel is set.
func matMul(out, x []float32, m int, w Matrix, parallel bool) {
	n, k := w.Rows, w.Cols
	checkMatMul(out, x, m, w)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(out[:m*n])
		return
	}
	if m <= gemvMaxM {
		gemv(out, x, m, w, parallel)
		return
	}
	gemm(out, x, m, w, parallel)
}

// checkMatMul panics with a clear message when the slices cannot hold the
// shapes; the kernels below rely on it instead of per-element bounds checks.
func checkMatMul(out, x []float32, m int, w Matrix) {
	n, k := w.Rows, w.Cols
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels.MatMul: negative shape m=%d n=%d k=%d", m, n, k))
	}
	if len(out) < m*n || len(x) < m*k {
		panic(fmt.Sprintf("kernels.MatMul: out has %d floats, x %d; [%d,%d]·[%d,%d]ᵀ needs %d and %d", len(out), len(x), m, k, n, k, m*n, m*k))
	}
	have := len(w.F32)
	if w.DType != F32 {
		have = len(w.U16)
	}
	if have < n*k {
		panic(fmt.Sprintf("kernels.MatMul: %s weight [%d,%d] holds %d values", w.DType, n, k, have))
	}
}

// matMulRef is the obviously-correct reference every fast path is tested
// against: one float64-free dot product per output, in k order.
func matMulRef(out, x []float32, m int, w Matrix) {
	n, k := w.Rows, w.Cols
	row := make([]float32, k)
	for j := 0; j < n; j++ {
		w.Row(row, j)
		for i := 0; i < m; i++ {
			out[i*n+j] = dotRef(x[i*k:(i+1)*k], row)
		}
	}
}
