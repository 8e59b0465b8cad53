package kernels

import (
	"fmt"
	"math"
)

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

// AxpyRows computes y += p[k] · x[k*ld : k*ld+len(y)] for k < len(p), in
// order of k, skipping the rows whose weight is ±0 (an underflowed
// attention weight must not carry a non-finite value into y): decode
// attention's P·V for one query head, the value rows ld floats apart.
// Every step is Axpy's, so the result is bit for bit that of calling Axpy
// row by row; the AVX-512 code keeps y in registers across the rows
// instead of loading and storing it for each one.
func AxpyRows(y, p, x []float32, ld int) {
	if len(p) == 0 || len(y) == 0 {
		return
	}
	if len(x) < (len(p)-1)*ld+len(y) || ld < len(y) {
		panic(fmt.Sprintf("kernels.AxpyRows: %d rows of %d floats, %d apart, need %d floats, x has %d", len(p), len(y), ld, (len(p)-1)*ld+len(y), len(x)))
	}
	axpyRows(y, p, x, ld)
}

// AxpyRowsN computes, for j < rows, y[j*d : (j+1)*d] += Σ_k p[j*ldp+k] ·
// x[k*ld : k*ld+d] for k < n: AxpyRows(y[j*d:(j+1)*d], p[j*ldp:j*ldp+n],
// x, ld) for every j, bit for bit, reading each row of x once for a block
// of 4 rows of y (decode attention's P·V for the query heads of one KV
// head: one head's sums wait on the multiply-add latency, four heads' do
// not).
func AxpyRowsN(y []float32, d, rows int, p []float32, ldp, n int, x []float32, ld int) {
	axpyRowsN("AxpyRowsN", y, d, rows, p, ldp, n, x, ld, axpyRows4, axpyRows)
}

// axpyRowsN is AxpyRowsN and AxpyRowsNBF16 over x of either type: four
// rows of y at a time (four), the rest one at a time (one).
func axpyRowsN[T float32 | uint16](name string, y []float32, d, rows int, p []float32, ldp, n int, x []T, ld int,
	four func(y []float32, d int, p []float32, ldp, n int, x []T, ld int), one func(y, p []float32, x []T, ld int)) {
	if rows <= 0 || n <= 0 || d <= 0 {
		return
	}
	if len(y) < rows*d || ldp < n || len(p) < (rows-1)*ldp+n || ld < d || len(x) < (n-1)*ld+d {
		panic(fmt.Sprintf("kernels.%s: %d rows of %d floats over %d rows of x (%d apart): y has %d, p %d (ld %d), x %d", name, rows, d, n, ld, len(y), len(p), ldp, len(x)))
	}
	j := 0
	for ; j+4 <= rows; j += 4 {
		four(y[j*d:(j+4)*d], d, p[j*ldp:], ldp, n, x, ld)
	}
	for ; j < rows; j++ {
		one(y[j*d:(j+1)*d], p[j*ldp:j*ldp+n], x, ld)
	}
}

// AxpyRowsNBF16 is AxpyRowsN over bfloat16 rows of x (a bf16 KV cache's
// values): for j < rows and k < n with p[j*ldp+k] != 0, y[j*d:(j+1)*d] +=
// p[j*ldp+k] · x[k*ld : k*ld+d], AxpyBF16 key by key for every j, bit for
// bit on finite values (which NaN's payload a sum keeps may differ; a
// non-finite hidden state stops the forward pass), reading and widening
// each row of x once per block of 4 rows of y.
func AxpyRowsNBF16(y []float32, d, rows int, p []float32, ldp, n int, x []uint16, ld int) {
	axpyRowsN("AxpyRowsNBF16", y, d, rows, p, ldp, n, x, ld, axpyRows4BF16, axpyRowsBF16Loop)
}

// axpyRows4BF16Loop is AxpyRowsNBF16's block of 4 rows row by row.
func axpyRows4BF16Loop(y []float32, d int, p []float32, ldp, n int, x []uint16, ld int) {
	for j := range 4 {
		axpyRowsBF16Loop(y[j*d:(j+1)*d], p[j*ldp:j*ldp+n], x, ld)
	}
}

// axpyRowsBF16Loop is one row of y over bf16 rows of x, AxpyBF16 per row
// whose weight is not ±0.
func axpyRowsBF16Loop(y, p []float32, x []uint16, ld int) {
	d := len(y)
	for k, a := range p {
		if a != 0 {
			axpyBF16(a, x[k*ld:k*ld+d], y)
		}
	}
}

// axpyRows4Loop is AxpyRowsN's block of 4 rows as AxpyRows for each.
func axpyRows4Loop(y []float32, d int, p []float32, ldp, n int, x []float32, ld int) {
	for j := range 4 {
		axpyRows(y[j*d:(j+1)*d], p[j*ldp:j*ldp+n], x, ld)
	}
}

// axpyRowsLoop is AxpyRows as one Axpy per row.
func axpyRowsLoop(y, p, x []float32, ld int) {
	d := len(y)
	for k, a := range p {
		if a != 0 {
			axpyF32(a, x[k*ld:k*ld+d], y)
		}
	}
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
