package kernels

// SiLU replaces x[i] with x[i] · sigmoid(x[i]), the activation of the
// SwiGLU gate.
func SiLU(x []float32) { silu(x) }

func siluGo(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + Exp(-v))
	}
}
