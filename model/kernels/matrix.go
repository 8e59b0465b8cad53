package kernels

import "fmt"

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
