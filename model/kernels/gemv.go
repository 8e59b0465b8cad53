package kernels

import "fmt"

// gemvMinRows is the smallest unit of the GEMV split: enough weight rows
// that handing a unit to a helper costs far less than streaming it.
const gemvMinRows = 64

// gemv computes out[m, n] = x[m, k] · w[n, k]ᵀ for small m, splitting the n
// weight rows across goroutines. Each output is one Dot over k, so the bits
// do not depend on the split.
func gemv(out, x []float32, m int, w Matrix, parallel bool) {
	n := w.Rows
	chunk := n
	if parallel {
		chunk = max(gemvMinRows, ceilDiv(n, 4*Threads()))
	}
	j := newJob(gemvUnit, ceilDiv(n, chunk))
	j.out, j.x, j.m, j.w, j.chunk = out, x, m, w, chunk
	j.execute(parallel)
}

// gemvUnit computes output columns [u*chunk, (u+1)*chunk): for each
// activation row, one GEMV over the unit's weight rows (the second and third
// rows find the unit's weights in L2).
func gemvUnit(j *job, u int, _ *scratch) {
	w, m, x, out := j.w, j.m, j.x, j.out
	n, k := w.Rows, w.Cols
	j0, j1 := u*j.chunk, min((u+1)*j.chunk, n)
	for i := 0; i < m; i++ {
		xi, oi := x[i*k:(i+1)*k], out[i*n+j0:i*n+j1]
		switch w.DType {
		case F32:
			gemvF32(oi, xi, w.F32[j0*k:j1*k])
		case BF16:
			gemvBF16(oi, xi, w.U16[j0*k:j1*k])
		case F16:
			gemvF16(oi, xi, w.U16[j0*k:j1*k])
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// GEMVHeads computes out[j*ldo+r] = x[j*k:(j+1)*k] · row r of w for j <
// heads and r < w.Rows (k = w.Cols): MatMulSerial(out[j*ldo:], x[j*k:], 1,
// w) for every j, bit for bit, on the calling goroutine. Float32 and bf16
// rows of w are read once per block of 4 rows of x (decode attention's
// scores of the
// query heads of one KV head, whose keys then come from memory or L2 once
// for four heads instead of once for each).
func GEMVHeads(out []float32, ldo int, x []float32, heads int, w Matrix) {
	n, k := w.Rows, w.Cols
	if heads <= 0 || n == 0 {
		return
	}
	if ldo < n || len(out) < (heads-1)*ldo+n || len(x) < heads*k {
		panic(fmt.Sprintf("kernels.GEMVHeads: %d rows of %d over [%d,%d]: out has %d floats (ld %d), x %d", heads, k, n, k, len(out), ldo, len(x)))
	}
	checkMatMul(out[:n], x[:k], 1, w)
	if k == 0 {
		for j := range heads {
			clear(out[j*ldo : j*ldo+n])
		}
		return
	}
	j := 0
	switch w.DType {
	case F32:
		for ; j+4 <= heads; j += 4 {
			gemv4F32(out[j*ldo:], ldo, x[j*k:(j+4)*k], k, w.F32[:n*k], n)
		}
	case BF16:
		for ; j+4 <= heads; j += 4 {
			gemv4BF16(out[j*ldo:], ldo, x[j*k:(j+4)*k], k, w.U16[:n*k], n)
		}
	}
	for ; j < heads; j++ {
		oj, xj := out[j*ldo:j*ldo+n], x[j*k:(j+1)*k]
		switch w.DType {
		case F32:
			gemvF32(oj, xj, w.F32[:n*k])
		case BF16:
			gemvBF16(oj, xj, w.U16[:n*k])
		case F16:
			gemvF16(oj, xj, w.U16[:n*k])
		}
	}
}

// gemv4BF16Loop is gemv4BF16 as gemvBF16 for each of the 4 rows.
func gemv4BF16Loop(out []float32, ldo int, x []float32, k int, w []uint16, rows int) {
	for j := range 4 {
		gemvBF16(out[j*ldo:j*ldo+rows], x[j*k:(j+1)*k], w[:rows*k])
	}
}

// gemv4Loop is gemv4F32 as gemvF32 for each of the 4 rows.
func gemv4Loop(out []float32, ldo int, x []float32, k int, w []float32, rows int) {
	for j := range 4 {
		gemvF32(out[j*ldo:j*ldo+rows], x[j*k:(j+1)*k], w[:rows*k])
	}
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
