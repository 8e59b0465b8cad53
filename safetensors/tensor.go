package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/compresskv/compresskv/internal/half"
)

// TensorInfo describes one tensor of a file, as its header states it.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int // [] for a scalar
	// Begin and End are byte offsets relative to the data area (the bytes
	// after the header), End exclusive.
	Begin, End int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Tensor is a tensor together with its bytes. Data is a read-only view into
// the memory-mapped file: writing to it faults, and it is valid only until
// the File is closed.
type Tensor struct {
	TensorInfo
	File string // path of the file holding the tensor
	Data []byte // [End-Begin] little-endian elements
}

// littleEndian is true on hosts whose memory order matches the file's, the
// only hosts where the zero-copy views are valid.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func (t Tensor) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: tensor %q: "+format, append([]any{t.File, t.Name}, args...)...)
}

// Float32s returns the elements of an F32, F16 or BF16 tensor converted to
// a newly allocated []float32.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.checkFloat(); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Data)/t.DType.ElemSize())
	return out, t.ReadFloat32(out, 0)
}

func (t Tensor) checkFloat() error {
	switch t.DType {
	case F32, F16, BF16:
	default:
		return t.errorf("dtype %s is not a float type (want F32, F16 or BF16)", t.DType)
	}
	if len(t.Data)%t.DType.ElemSize() != 0 {
		return t.errorf("%d data bytes are not a whole number of %s elements", len(t.Data), t.DType)
	}
	return nil
}

// ReadFloat32 converts elements [off, off+len(dst)) of an F32, F16 or BF16
// tensor into dst, so callers can widen a row or block at a time without
// holding the whole tensor in float32.
func (t Tensor) ReadFloat32(dst []float32, off int) error {
	if err := t.checkFloat(); err != nil {
		return err
	}
	size := t.DType.ElemSize()
	n := len(t.Data) / size
	if off < 0 || off > n || len(dst) > n-off {
		return t.errorf("elements [%d, %d) out of range: the tensor has %d", off, off+len(dst), n)
	}
	src := t.Data[off*size : (off+len(dst))*size]
	switch t.DType {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = half.F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = half.BF16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
	return nil
}

// Float32View returns the elements of an F32 tensor without copying, when
// Data is 4-byte aligned on a little-endian host. The view is read-only.
func (t Tensor) Float32View() ([]float32, bool) {
	if t.DType != F32 || !littleEndian || len(t.Data)%4 != 0 {
		return nil, false
	}
	if len(t.Data) == 0 {
		return []float32{}, true
	}
	p := unsafe.Pointer(unsafe.SliceData(t.Data))
	if uintptr(p)%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(p), len(t.Data)/4), true
}

// Uint16View returns the raw 16-bit words of an F16 or BF16 tensor without
// copying, when Data is 2-byte aligned on a little-endian host. The view is
// read-only.
func (t Tensor) Uint16View() ([]uint16, bool) {
	if (t.DType != F16 && t.DType != BF16) || !littleEndian || len(t.Data)%2 != 0 {
		return nil, false
	}
	if len(t.Data) == 0 {
		return []uint16{}, true
	}
	p := unsafe.Pointer(unsafe.SliceData(t.Data))
	if uintptr(p)%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(p), len(t.Data)/2), true
}

// Uint16s returns the raw 16-bit words of an F16 or BF16 tensor in a newly
// allocated []uint16: the copy to fall back on when Uint16View declines
// (unaligned data or a big-endian host).
func (t Tensor) Uint16s() ([]uint16, error) {
	if t.DType != F16 && t.DType != BF16 {
		return nil, t.errorf("dtype %s is not a 16-bit float type (want F16 or BF16)", t.DType)
	}
	if len(t.Data)%2 != 0 {
		return nil, t.errorf("%d data bytes are not a whole number of %s elements", len(t.Data), t.DType)
	}
	out := make([]uint16, len(t.Data)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	return out, nil
}

// Int64s returns the elements of an integer tensor (I8, U8, I16, U16, I32,
// U32 or I64) widened to a newly allocated []int64.
func (t Tensor) Int64s() ([]int64, error) {
	size := t.DType.ElemSize()
	switch t.DType {
	case I8, U8, I16, U16, I32, U32, I64:
	default:
		return nil, t.errorf("dtype %s is not a signed or 32-bit integer type (want I8, U8, I16, U16, I32, U32 or I64)", t.DType)
	}
	if len(t.Data)%size != 0 {
		return nil, t.errorf("%d data bytes are not a whole number of %s elements", len(t.Data), t.DType)
	}
	out := make([]int64, len(t.Data)/size)
	d := t.Data
	for i := range out {
		switch t.DType {
		case I8:
			out[i] = int64(int8(d[i]))
		case U8:
			out[i] = int64(d[i])
		case I16:
			out[i] = int64(int16(binary.LittleEndian.Uint16(d[2*i:])))
		case U16:
			out[i] = int64(binary.LittleEndian.Uint16(d[2*i:]))
		case I32:
			out[i] = int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
		case U32:
			out[i] = int64(binary.LittleEndian.Uint32(d[4*i:]))
		case I64:
			out[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
		}
	}
	return out, nil
}
