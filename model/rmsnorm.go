package model

import (
	"math"

	"github.com/compresskv/compresskv/model/kernels"
)

// rmsNorm writes x / sqrt(mean(x²) + eps) * weight into out, one row of
// len(weight) at a time. out and x are [rows, n] and may be the same slice.
// The sum of squares is a float32 kernels.Dot, as transformers' float32
// reduction.
func rmsNorm(out, x, weight []float32, eps float64) {
	n := len(weight)
	inBlocks(len(x)/n, n, func(lo, hi int) { rmsNormRows(out[lo*n:hi*n], x[lo*n:hi*n], weight, eps) })
}

// rmsNormRows is rmsNorm on one block of rows.
func rmsNormRows(out, x, weight []float32, eps float64) {
	n := len(weight)
	for r := 0; r+n <= len(x); r += n {
		row, dst := x[r:r+n], out[r:r+n]
		ss := float64(kernels.Dot(row, row))
		scale := float32(1 / math.Sqrt(ss/float64(n)+eps))
		for i, v := range row {
			dst[i] = weight[i] * (v * scale)
		}
	}
}

// swiGLU writes silu(gate) * up into gate: the SwiGLU activation of the MLP,
// silu(g) = g / (1 + e^-g).
func swiGLU(gate, up []float32) {
	up = up[:len(gate)]
	inBlocks(len(gate), 1, func(lo, hi int) {
		g := gate[lo:hi]
		kernels.SiLU(g)
		for i, u := range up[lo:hi] {
			g[i] *= u
		}
	})
}

// addBias adds bias [n] to every row of x [rows, n].
func addBias(x, bias []float32) {
	n := len(bias)
	for r := 0; r+n <= len(x); r += n {
		kernels.Add(x[r:r+n], bias)
	}
}

// addInto computes x[i] += y[i] (the residual connection).
func addInto(x, y []float32) {
	y = y[:len(x)]
	inBlocks(len(x), 1, func(lo, hi int) { kernels.Add(x[lo:hi], y[lo:hi]) })
}
