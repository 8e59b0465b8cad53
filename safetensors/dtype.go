package safetensors

import "fmt"

// DType is the element type of a tensor, as named in the safetensors header.
type DType uint8

// Element types. F32, F16, BF16, I32 and I64 (and the small integer types)
// can be converted by Tensor; the others are recognised so that checkpoints
// carrying such tensors still open, and their bytes are available raw.
const (
	F32 DType = iota
	F16
	BF16
	I32
	I64
	F64
	I8
	U8
	I16
	U16
	U32
	U64
	BOOL
	F8E4M3   // "F8_E4M3"
	F8E5M2   // "F8_E5M2"
	F8E8M0   // "F8_E8M0"
	C64      // complex64: two float32
	numDType // sentinel, not a dtype
)

var dtypeNames = [numDType]string{
	F32: "F32", F16: "F16", BF16: "BF16", I32: "I32", I64: "I64",
	F64: "F64", I8: "I8", U8: "U8", I16: "I16", U16: "U16", U32: "U32",
	U64: "U64", BOOL: "BOOL", F8E4M3: "F8_E4M3", F8E5M2: "F8_E5M2",
	F8E8M0: "F8_E8M0", C64: "C64",
}

var dtypeSizes = [numDType]int{
	F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8,
	F64: 8, I8: 1, U8: 1, I16: 2, U16: 2, U32: 4,
	U64: 8, BOOL: 1, F8E4M3: 1, F8E5M2: 1,
	F8E8M0: 1, C64: 8,
}

// String returns the header name of the dtype ("F32", "BF16", "F8_E4M3", ...).
func (d DType) String() string {
	if d < numDType {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// ElemSize returns the size of one element in bytes, or 0 for an invalid
// dtype.
func (d DType) ElemSize() int {
	if d < numDType {
		return dtypeSizes[d]
	}
	return 0
}

// Valid reports whether d is one of the dtypes this package knows.
func (d DType) Valid() bool { return d < numDType }

// ParseDType returns the dtype with the given header name.
func ParseDType(name string) (DType, bool) {
	for d, n := range dtypeNames {
		if n == name {
			return DType(d), true
		}
	}
	return 0, false
}
