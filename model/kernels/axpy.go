package kernels

import "math"

// AXPY and the other element-wise updates. axpyGo and axpyBF16Go are the
// twins of axpy_amd64.s.

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
