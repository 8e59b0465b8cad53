package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestEncodeExactBytes checks the layout byte for byte on a hand-built
// example: sorted keys, "__metadata__" sorted among the names, space
// padding to 8, tensors in name order.
func TestEncodeExactBytes(t *testing.T) {
	var buf bytes.Buffer
	err := Encode(&buf, []WriteTensor{
		{Name: "b", DType: I32, Shape: []int{1}, Data: []byte{7, 0, 0, 0}},
		{Name: "a", DType: U8, Shape: []int{2}, Data: []byte{1, 2}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	header := `{"__metadata__":{"format":"pt"},` +
		`"a":{"data_offsets":[0,2],"dtype":"U8","shape":[2]},` +
		`"b":{"data_offsets":[2,6],"dtype":"I32","shape":[1]}}`
	// 137 bytes of JSON, padded with 7 spaces to 144.
	if len(header) != 137 {
		t.Fatalf("hand-computed header is %d bytes", len(header))
	}
	header += "       "
	want := binary.LittleEndian.AppendUint64(nil, 144)
	want = append(want, header...)
	want = append(want, 1, 2, 7, 0, 0, 0)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Encode =\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

// TestRoundTrip writes every dtype, scalars and zero-size tensors, reads
// them back, and checks that writing twice gives the same bytes.
func TestRoundTrip(t *testing.T) {
	var tensors []WriteTensor
	for d := DType(0); d < numDType; d++ {
		for _, shape := range [][]int{{}, {0}, {3, 0, 2}, {2, 3}} {
			n := 1
			for _, s := range shape {
				n *= s
			}
			data := make([]byte, n*d.ElemSize())
			for i := range data {
				data[i] = byte(int(d)*31 + i)
			}
			tensors = append(tensors, WriteTensor{Name: d.String() + "/" + shapeName(shape), DType: d, Shape: shape, Data: data})
		}
	}
	tensors = append(tensors,
		WriteTensor{Name: "floats.f32", DType: F32, Shape: []int{2, 2}, Data: F32Bytes([]float32{1, -2.5, 0.25, 1e30})},
		WriteTensor{Name: "floats.bf16", DType: BF16, Shape: []int{2, 2}, Data: BF16Bytes([]float32{1, -2.5, 0.25, 1e30})},
		WriteTensor{Name: "floats.f16", DType: F16, Shape: []int{2, 2}, Data: F16Bytes([]float32{1, -2.5, 0.25, 1e30})},
		WriteTensor{Name: "ids", DType: I64, Shape: []int{3}, Data: I64Bytes([]int64{-1, 0, 1 << 40})},
		WriteTensor{Name: `odd "name" <&> é`, DType: U8, Shape: []int{1}, Data: []byte{9}},
	)
	meta := map[string]string{"format": "pt", "note": `quotes " and \ and é`}
	dir := t.TempDir()
	path := filepath.Join(dir, "rt.safetensors")
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(first); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	// Reversed input order must not change the bytes.
	reversed := slices.Clone(tensors)
	slices.Reverse(reversed)
	if err := WriteFile(path, reversed, meta); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) {
		t.Error("writing the same tensors twice gave different bytes")
	}

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Metadata(); len(got) != 2 || got["format"] != "pt" || got["note"] != meta["note"] {
		t.Errorf("Metadata = %v, want %v", got, meta)
	}
	infos := f.Infos()
	if len(infos) != len(tensors) {
		t.Fatalf("%d tensors read, %d written", len(infos), len(tensors))
	}
	if !slices.IsSortedFunc(infos, func(a, b TensorInfo) int { return cmpName(a.Name, b.Name) }) {
		t.Error("Infos not sorted by name")
	}
	for _, w := range tensors {
		got, err := f.Tensor(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != w.DType || !slices.Equal(got.Shape, w.Shape) || !bytes.Equal(got.Data, w.Data) || got.File != path {
			t.Errorf("%s: read %s %v %x, wrote %s %v %x", w.Name, got.DType, got.Shape, got.Data, w.DType, w.Shape, w.Data)
		}
		if got.Shape == nil {
			t.Errorf("%s: nil shape; a scalar should read as []", w.Name)
		}
		if got.NumElements()*int64(got.DType.ElemSize()) != int64(len(got.Data)) {
			t.Errorf("%s: NumElements %d does not match %d bytes", w.Name, got.NumElements(), len(got.Data))
		}
	}
	if tt, _ := f.Tensor("F32/scalar"); tt.NumElements() != 1 {
		t.Errorf("scalar NumElements = %d, want 1", tt.NumElements())
	}
	want := []float32{1, -2.5, 0.25, 1e30}
	for _, name := range []string{"floats.f32", "floats.bf16", "floats.f16"} {
		tt, _ := f.Tensor(name)
		v, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for i := range want[:3] { // 1e30 is exact only in F32
			if v[i] != want[i] {
				t.Errorf("%s = %v, want %v", name, v, want)
			}
		}
	}
	if tt, _ := f.Tensor("floats.f16"); true {
		v, _ := tt.Float32s()
		if !isInf(v[3]) {
			t.Errorf("1e30 in F16 = %g, want +Inf", v[3])
		}
	}
	ids, _ := f.Tensor("ids")
	if v, err := ids.Int64s(); err != nil || !slices.Equal(v, []int64{-1, 0, 1 << 40}) {
		t.Errorf("ids = %v, %v", v, err)
	}
	if _, err := f.Tensor("absent"); !contains(err, path+`: tensor "absent": not in the file`) {
		t.Errorf("missing tensor: err = %v", err)
	}
	if h := f.Header(); !bytes.Equal(h, first[8:8+len(h)]) || len(h)%8 != 0 {
		t.Errorf("Header() = %q, not the file's header", h)
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		tensors []WriteTensor
		want    string
	}{
		{"duplicate", []WriteTensor{{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{1}}, {Name: "a", DType: U8, Shape: []int{1}, Data: []byte{2}}}, `tensor "a": given twice`},
		{"short data", []WriteTensor{{Name: "a", DType: F32, Shape: []int{2}, Data: []byte{1}}}, `tensor "a": 1 data bytes, but F32 [2] needs 8`},
		{"negative dim", []WriteTensor{{Name: "a", DType: F32, Shape: []int{-1}}}, "negative dimension"},
		{"bad dtype", []WriteTensor{{Name: "a", DType: numDType, Shape: []int{}}}, "unknown dtype"},
		{"reserved name", []WriteTensor{{Name: metadataKey, DType: U8, Shape: []int{}, Data: []byte{1}}}, "reserved"},
		{"overflow", []WriteTensor{{Name: "a", DType: F32, Shape: []int{1 << 20, 1 << 20, 1 << 20, 1 << 20}}}, "overflows"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := Encode(&buf, tt.tensors, nil); !contains(err, tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written before the error", tt.name, buf.Len())
		}
	}
}

// TestViews checks the zero-copy views and their copying fallbacks, the
// pieces a caller builds a matrix from: aligned data is viewed in place,
// misaligned data is declined by the views and copied by Float32s/Uint16s.
func TestViews(t *testing.T) {
	values := []float32{1, 2, 3, -4, 5, 0.5}
	words := map[DType][]uint16{
		BF16: {0x3f80, 0x4000, 0x4040, 0xc080, 0x40a0, 0x3f00},
		F16:  {0x3c00, 0x4000, 0x4200, 0xc400, 0x4500, 0x3800},
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	err := WriteFile(path, []WriteTensor{
		{Name: "f32", DType: F32, Shape: []int{2, 3}, Data: F32Bytes(values)},
		{Name: "bf16", DType: BF16, Shape: []int{2, 3}, Data: BF16Bytes(values)},
		{Name: "f16", DType: F16, Shape: []int{3, 2}, Data: F16Bytes(values)},
		{Name: "ids", DType: I32, Shape: []int{2}, Data: I32Bytes([]int32{1, 2})},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	f32, _ := f.Tensor("f32")
	v, ok := f32.Float32View()
	if !ok || !equalFloats(v, values) {
		t.Errorf("f32: Float32View = %v, %v; want %v, true", v, ok, values)
	} else if unsafePointer(&v[0]) != unsafePointer(&f32.Data[0]) {
		t.Error("f32: Float32View copied aligned data")
	}
	if _, ok := f32.Uint16View(); ok {
		t.Error("f32: Uint16View accepted an F32 tensor")
	}
	if _, err := f32.Uint16s(); !contains(err, `m.safetensors: tensor "f32": dtype F32 is not a 16-bit float type`) {
		t.Errorf("f32: Uint16s err = %v", err)
	}
	for _, name := range []string{"bf16", "f16"} {
		tt, _ := f.Tensor(name)
		want := words[tt.DType]
		u, ok := tt.Uint16View()
		if !ok || !slices.Equal(u, want) {
			t.Errorf("%s: Uint16View = %#04x, %v; want %#04x, true", name, u, ok, want)
		} else if unsafePointer(&u[0]) != unsafePointer(&tt.Data[0]) {
			t.Errorf("%s: Uint16View copied aligned data", name)
		}
		c, err := tt.Uint16s()
		if err != nil || !slices.Equal(c, want) {
			t.Errorf("%s: Uint16s = %#04x, %v; want %#04x", name, c, err, want)
		} else if unsafePointer(&c[0]) == unsafePointer(&tt.Data[0]) {
			t.Errorf("%s: Uint16s returned the mapping, not a copy", name)
		}
		if _, ok := tt.Float32View(); ok {
			t.Errorf("%s: Float32View accepted a 16-bit tensor", name)
		}
	}
	ids, _ := f.Tensor("ids")
	if _, ok := ids.Uint16View(); ok {
		t.Error("ids: Uint16View accepted an I32 tensor")
	}

	// Misaligned data (a slice starting one byte in) is declined by the
	// views and copied by Float32s and Uint16s.
	odd := Tensor{TensorInfo: TensorInfo{Name: "odd", DType: F32, Shape: []int{3, 2}}, Data: append([]byte{0}, F32Bytes(values)...)[1:]}
	if _, ok := odd.Float32View(); ok {
		t.Error("Float32View accepted misaligned data")
	}
	if got, err := odd.Float32s(); err != nil || !equalFloats(got, values) {
		t.Errorf("misaligned Float32s = %v, %v", got, err)
	}
	oddBF := Tensor{TensorInfo: TensorInfo{Name: "odd", DType: BF16, Shape: []int{3, 2}}, Data: append([]byte{0}, BF16Bytes(values)...)[1:]}
	if _, ok := oddBF.Uint16View(); ok {
		t.Error("Uint16View accepted misaligned data")
	}
	if got, err := oddBF.Uint16s(); err != nil || len(got) != 6 || got[3] != 0xc080 { // -4 in bf16
		t.Errorf("misaligned BF16 Uint16s = %#04x, %v", got, err)
	}
	short := Tensor{TensorInfo: TensorInfo{Name: "short", DType: F16, Shape: []int{1}}, File: "mem", Data: []byte{1, 2, 3}}
	if _, err := short.Uint16s(); !contains(err, `mem: tensor "short": 3 data bytes are not a whole number of F16 elements`) {
		t.Errorf("odd-length Uint16s: err = %v", err)
	}
}

func shapeName(shape []int) string {
	if len(shape) == 0 {
		return "scalar"
	}
	var b bytes.Buffer
	for i, d := range shape {
		if i > 0 {
			b.WriteByte('x')
		}
		b.WriteString(string(rune('0' + d)))
	}
	return b.String()
}

func cmpName(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isInf(f float32) bool { return f > 3.4e38 }
