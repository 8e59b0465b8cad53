package kernels

// MatMul computes out[m, n] = x[m, k] · w[n, k]ᵀ where n = w.Rows and
// k = w.Cols. out must hold m*n floats and x m*k floats. out is overwritten.
func MatMul(out, x []float32, m int, w Matrix) {
	matMulRef(out, x, m, w)
}

// matMulRef is the obviously-correct reference every fast path is tested
// against.
func matMulRef(out, x []float32, m int, w Matrix) {
	n, k := w.Rows, w.Cols
	row := make([]float32, k)
	for j := 0; j < n; j++ {
		w.Row(row, j)
		for i := 0; i < m; i++ {
			out[i*n+j] = Dot(x[i*k:(i+1)*k], row)
		}
	}
}

// Dot returns the dot product of a and b[:len(a)].
func Dot(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// Axpy computes y[i] += alpha * x[i] for i < len(x).
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
