package kernels

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
