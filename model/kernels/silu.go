package kernels

// SiLU replaces x[i] with x[i] · sigmoid(x[i]), the activation of the
// SwiGLU gate.
func SiLU(x []float32) { silu(x) }

// SiLUAlign is the alignment, in floats, under which SiLU gives an element
// the same bits in any slice holding it at the same offset modulo
// SiLUAlign: the assembly takes whole vectors of 16 floats from x[0] with
// a vector exp and the tail with the scalar one, which may differ in the
// last bit.
const SiLUAlign = 64

func siluGo(x []float32) {
	for i, v := range x {
		x[i] = v / (1 + Exp(-v))
	}
}
