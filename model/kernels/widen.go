package kernels

import (
	"math"

	"github.com/compresskv/compresskv/internal/half"
)

// Widening 16-bit words to float32: the twins of widen_amd64.s.

func widenBF16Go(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = math.Float32frombits(uint32(v) << 16)
	}
}

func widenF16Go(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = F16ToFloat32(v)
	}
}

// kernelSet is one implementation of every inner kernel; the package runs

// BF16ToFloat32 widens a bfloat16 bit pattern to float32 (exact).
func BF16ToFloat32(v uint16) float32 { return half.BF16ToFloat32(v) }

// Float32ToBF16 rounds f to the nearest bfloat16, ties to even; NaN stays NaN.
func Float32ToBF16(f float32) uint16 { return half.Float32ToBF16(f) }

// F16ToFloat32 widens an IEEE half-precision bit pattern to float32 (exact).
func F16ToFloat32(h uint16) float32 { return half.F16ToFloat32(h) }
