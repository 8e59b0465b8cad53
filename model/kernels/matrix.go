package kernels

import (
	"fmt"
	"math"
)

// DType is the storage type of a weight matrix.
type DType uint8

// Weight storage types the kernels read directly.
const (
	F32 DType = iota
	F16
	BF16
)

// String returns the safetensors name of the dtype.
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Matrix is a read-only row-major weight matrix [Rows, Cols] kept in its
// stored dtype: F32 uses the F32 slice, F16 and BF16 the raw 16-bit words in
// U16. Weights are widened to float32 inside the kernels, never copied.
type Matrix struct {
	Rows, Cols int
	DType      DType
	F32        []float32 // [Rows*Cols] when DType == F32
	U16        []uint16  // [Rows*Cols] raw bits when DType == F16 or BF16
}

// Row writes row r of m, widened to float32, into dst[:m.Cols].
func (m Matrix) Row(dst []float32, r int) {
	off := r * m.Cols
	switch m.DType {
	case F32:
		copy(dst[:m.Cols], m.F32[off:off+m.Cols])
	case BF16:
		widenBF16(dst[:m.Cols], m.U16[off:off+m.Cols])
	case F16:
		widenF16(dst[:m.Cols], m.U16[off:off+m.Cols])
	}
}

// BF16ToFloat32 widens a bfloat16 bit pattern to float32 (exact).
func BF16ToFloat32(v uint16) float32 {
	return math.Float32frombits(uint32(v) << 16)
}

// Float32ToBF16 rounds f to the nearest bfloat16, ties to even; NaN stays NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToFloat32 widens an IEEE half-precision bit pattern to float32 (exact).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: normalise.
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}
