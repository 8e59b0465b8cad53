package model

import "math"

// rmsNorm writes x / sqrt(mean(x²) + eps) * weight into out, one row of
// len(weight) at a time. out and x are [rows, n] and may be the same slice.
// The mean is accumulated in float64, a hair more exact than transformers'
// float32 reduction.
func rmsNorm(out, x, weight []float32, eps float64) {
	n := len(weight)
	for r := 0; r+n <= len(x); r += n {
		row, dst := x[r:r+n], out[r:r+n]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
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
	for i, g := range gate {
		gate[i] = float32(float64(g)/(1+math.Exp(-float64(g)))) * up[i]
	}
}

// addBias adds bias [n] to every row of x [rows, n].
func addBias(x, bias []float32) {
	n := len(bias)
	for r := 0; r+n <= len(x); r += n {
		row := x[r : r+n]
		for i, b := range bias {
			row[i] += b
		}
	}
}

// addInto computes x[i] += y[i] (the residual connection).
func addInto(x, y []float32) {
	y = y[:len(x)]
	for i, v := range y {
		x[i] += v
	}
}
