package safetensors

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// rawFile builds a safetensors file from a header string and dataLen data
// bytes (counting 0, 1, 2, ...), with no padding or checks, for bad-file
// tests.
func rawFile(header string, dataLen int) []byte {
	out := make([]byte, 8, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	for i := 0; i < dataLen; i++ {
		out = append(out, byte(i))
	}
	return out
}

func contains(err error, sub string) bool {
	return err != nil && strings.Contains(err.Error(), sub)
}

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
