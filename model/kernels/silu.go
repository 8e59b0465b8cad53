package kernels

// SiLU replaces x[i] with x[i] · sigmoid(x[i]), the activation of the
// SwiGLU gate. An element gets the same bits at any offset of any slice:
// the assembly takes a tail shorter than its 16-float vectors through a
// padded vector too.
func SiLU(x []float32) { silu(x) }

func siluGo(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + Exp(-v))
	}
}
