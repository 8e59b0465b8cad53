package safetensors

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/internal/half"
)

// FuzzHeader runs the whole validation path on arbitrary bytes: it must
// never panic, and whatever it accepts must be internally consistent, so
// that Tensor can slice the data without further checks.
func FuzzHeader(f *testing.F) {
	var good bytes.Buffer
	err := Encode(&good, []WriteTensor{
		{Name: "a", DType: F32, Shape: []int{2, 2}, Data: F32Bytes([]float32{1, 2, 3, 4})},
		{Name: "b", DType: BF16, Shape: []int{3}, Data: BF16Bytes([]float32{1, 2, 3})},
		{Name: "s", DType: I64, Shape: []int{}, Data: I64Bytes([]int64{5})},
		{Name: "z", DType: F16, Shape: []int{0, 4}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	for _, bf := range badCorpus() {
		f.Add(bf.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := newFile("fuzz", data)
		if err != nil {
			if !bytes.HasPrefix([]byte(err.Error()), []byte("fuzz: ")) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		var covered int64
		for _, info := range file.Infos() {
			tensor, err := file.Tensor(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(tensor.Data)) != tensor.NumElements()*int64(tensor.DType.ElemSize()) {
				t.Fatalf("tensor %q: %d bytes for %s %v", info.Name, len(tensor.Data), tensor.DType, tensor.Shape)
			}
			covered += int64(len(tensor.Data))
			switch tensor.DType {
			case F32, F16, BF16:
				checkFloatViews(t, tensor)
			case I32, I64:
				if _, err := tensor.Int64s(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if want := int64(len(data)) - file.header.dataStart; covered != want {
			t.Fatalf("tensors cover %d bytes of a %d-byte data area", covered, want)
		}
		_ = file.Metadata()
		_ = file.Header()
	})
}

// checkFloatViews checks that a float tensor accepted by the validation
// converts without error, and that its zero-copy view (when the data is
// aligned) and its copy hold the same words as the widened values.
func checkFloatViews(t *testing.T, tensor Tensor) {
	t.Helper()
	widened, err := tensor.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(widened)) != tensor.NumElements() {
		t.Fatalf("tensor %q: Float32s gave %d values for shape %v", tensor.Name, len(widened), tensor.Shape)
	}
	if tensor.DType == F32 {
		if view, ok := tensor.Float32View(); ok && !equalFloats(view, widened) {
			t.Fatalf("tensor %q: Float32View differs from Float32s", tensor.Name)
		}
		return
	}
	words, err := tensor.Uint16s()
	if err != nil {
		t.Fatal(err)
	}
	if view, ok := tensor.Uint16View(); ok && !slices.Equal(view, words) {
		t.Fatalf("tensor %q: Uint16View differs from Uint16s", tensor.Name)
	}
	widen := half.BF16ToFloat32
	if tensor.DType == F16 {
		widen = half.F16ToFloat32
	}
	for i, w := range words {
		if math.Float32bits(widen(w)) != math.Float32bits(widened[i]) {
			t.Fatalf("tensor %q[%d]: word %#04x widens to %g, Float32s gave %g", tensor.Name, i, w, widen(w), widened[i])
		}
	}
}

// FuzzIndex runs the index parser on arbitrary bytes.
func FuzzIndex(f *testing.F) {
	f.Add([]byte(goodIndex))
	f.Add([]byte(`{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "../x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseIndex("fuzz", data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if seen[e.tensor] {
				t.Fatalf("tensor %q accepted twice", e.tensor)
			}
			seen[e.tensor] = true
			if checkShardName(e.file) != nil {
				t.Fatalf("shard %q accepted", e.file)
			}
		}
	})
}
