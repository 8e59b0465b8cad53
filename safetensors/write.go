package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/internal/half"
)

// WriteTensor is a tensor to write: Data holds product(Shape) little-endian
// elements of DType (see F32Bytes, BF16Bytes, ...).
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// WriteFile writes tensors and metadata as a safetensors file at path,
// atomically (see Encode for the layout).
func WriteFile(path string, tensors []WriteTensor, metadata map[string]string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return Encode(w, tensors, metadata)
	})
}

// Encode writes tensors and metadata in the safetensors format. The bytes
// depend only on the input: tensors are laid out sorted by name, the header
// JSON has sorted keys and no spaces, and it is padded with spaces to a
// multiple of 8 bytes so that the data area stays 8-byte aligned.
func Encode(w io.Writer, tensors []WriteTensor, metadata map[string]string) error {
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b WriteTensor) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for i, t := range sorted {
		if err := t.check(); err != nil {
			return err
		}
		if i > 0 && sorted[i-1].Name == t.Name {
			return fmt.Errorf("tensor %q: given twice", t.Name)
		}
	}

	// Header keys in sorted order: "__metadata__" sorts among the names.
	type entry struct {
		key string
		t   *WriteTensor
	}
	entries := make([]entry, 0, len(sorted)+1)
	if len(metadata) > 0 {
		entries = append(entries, entry{key: metadataKey})
	}
	for i := range sorted {
		entries = append(entries, entry{key: sorted[i].Name, t: &sorted[i]})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})

	var h bytes.Buffer
	h.WriteByte('{')
	var offset int64
	for i, e := range entries {
		if i > 0 {
			h.WriteByte(',')
		}
		writeJSONString(&h, e.key)
		h.WriteByte(':')
		if e.t == nil {
			writeMetadata(&h, metadata)
			continue
		}
		end := offset + int64(len(e.t.Data))
		h.WriteString(`{"data_offsets":[`)
		h.WriteString(strconv.FormatInt(offset, 10))
		h.WriteByte(',')
		h.WriteString(strconv.FormatInt(end, 10))
		h.WriteString(`],"dtype":`)
		writeJSONString(&h, e.t.DType.String())
		h.WriteString(`,"shape":[`)
		for j, d := range e.t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		h.WriteString("]}")
		offset = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxHeaderSize {
		return fmt.Errorf("header is %d bytes, over the %d-byte limit", h.Len(), MaxHeaderSize)
	}

	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(h.Len()))
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	for _, t := range sorted {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// check validates one tensor before anything is written.
func (t WriteTensor) check() error {
	if t.Name == metadataKey {
		return fmt.Errorf("tensor %q: the name is reserved for metadata", t.Name)
	}
	if !t.DType.Valid() {
		return fmt.Errorf("tensor %q: unknown dtype %v", t.Name, t.DType)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
		}
	}
	size, ok := byteSize(t.DType, t.Shape)
	if !ok {
		return fmt.Errorf("tensor %q: shape %v overflows", t.Name, t.Shape)
	}
	if int64(len(t.Data)) != size {
		return fmt.Errorf("tensor %q: %d data bytes, but %s %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, size)
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // a string always encodes
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

func writeMetadata(b *bytes.Buffer, metadata map[string]string) {
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, k)
		b.WriteByte(':')
		writeJSONString(b, metadata[k])
	}
	b.WriteByte('}')
}

// F32Bytes encodes v as little-endian F32 data.
func F32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// BF16Bytes rounds v to bfloat16 (nearest, ties to even) and encodes it as
// little-endian BF16 data.
func BF16Bytes(v []float32) []byte {
	out := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(out[2*i:], half.Float32ToBF16(x))
	}
	return out
}

// F16Bytes rounds v to IEEE half precision (nearest, ties to even; overflow
// to infinity) and encodes it as little-endian F16 data.
func F16Bytes(v []float32) []byte {
	out := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(out[2*i:], half.Float32ToF16(x))
	}
	return out
}

// I32Bytes encodes v as little-endian I32 data.
func I32Bytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

// I64Bytes encodes v as little-endian I64 data.
func I64Bytes(v []int64) []byte {
	out := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[8*i:], uint64(x))
	}
	return out
}
