package model

import (
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/safetensors"
)

// TestTensorMatrix checks each float dtype end to end (file -> matrix ->
// row), that aligned data is viewed in place and misaligned data copied,
// and the errors for what cannot be a matrix.
func TestTensorMatrix(t *testing.T) {
	values := []float32{1, 2, 3, -4, 5, 0.5} // exact in every dtype
	path := filepath.Join(t.TempDir(), "m.safetensors")
	err := safetensors.WriteFile(path, []safetensors.WriteTensor{
		{Name: "f32", DType: safetensors.F32, Shape: []int{2, 3}, Data: safetensors.F32Bytes(values)},
		{Name: "bf16", DType: safetensors.BF16, Shape: []int{2, 3}, Data: safetensors.BF16Bytes(values)},
		{Name: "f16", DType: safetensors.F16, Shape: []int{3, 2}, Data: safetensors.F16Bytes(values)},
		{Name: "vec", DType: safetensors.F32, Shape: []int{6}, Data: safetensors.F32Bytes(values)},
		{Name: "ids", DType: safetensors.I32, Shape: []int{2, 3}, Data: safetensors.I32Bytes([]int32{1, 2, 3, 4, 5, 6})},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name       string
		rows, cols int
		dtype      kernels.DType
	}{
		{"f32", 2, 3, kernels.F32},
		{"bf16", 2, 3, kernels.BF16},
		{"f16", 3, 2, kernels.F16},
	} {
		tensor, err := f.Tensor(c.name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := tensorMatrix(tensor)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rows != c.rows || m.Cols != c.cols || m.DType != c.dtype {
			t.Errorf("%s: matrix [%d, %d] %s, want [%d, %d] %s", c.name, m.Rows, m.Cols, m.DType, c.rows, c.cols, c.dtype)
		}
		row := make([]float32, m.Cols)
		m.Row(row, 1)
		if want := values[m.Cols : 2*m.Cols]; !equalBits(row, want) {
			t.Errorf("%s: row 1 = %v, want %v", c.name, row, want)
		}
		if matrixData(m) != unsafe.Pointer(&tensor.Data[0]) {
			t.Errorf("%s: tensorMatrix copied aligned data", c.name)
		}
	}

	// Misaligned data (a slice starting one byte in) is copied.
	for _, c := range []struct {
		dtype safetensors.DType
		data  []byte
	}{
		{safetensors.F32, safetensors.F32Bytes(values)},
		{safetensors.BF16, safetensors.BF16Bytes(values)},
		{safetensors.F16, safetensors.F16Bytes(values)},
	} {
		odd := safetensors.Tensor{
			TensorInfo: safetensors.TensorInfo{Name: "odd", DType: c.dtype, Shape: []int{3, 2}},
			File:       "mem",
			Data:       append([]byte{0}, c.data...)[1:],
		}
		m, err := tensorMatrix(odd)
		if err != nil {
			t.Fatalf("misaligned %s: %v", c.dtype, err)
		}
		row := make([]float32, 2)
		m.Row(row, 1)
		if !equalBits(row, values[2:4]) {
			t.Errorf("misaligned %s: row 1 = %v, want %v", c.dtype, row, values[2:4])
		}
		if matrixData(m) == unsafe.Pointer(&odd.Data[0]) {
			t.Errorf("misaligned %s: matrix aliases unaligned data", c.dtype)
		}
	}

	vec, _ := f.Tensor("vec")
	ids, _ := f.Tensor("ids")
	short := safetensors.Tensor{
		TensorInfo: safetensors.TensorInfo{Name: "short", DType: safetensors.BF16, Shape: []int{2, 3}},
		File:       "mem",
		Data:       make([]byte, 10),
	}
	for _, c := range []struct {
		tensor safetensors.Tensor
		want   string
	}{
		{vec, `m.safetensors: tensor "vec": shape [6] is not 2-D, cannot be a matrix`},
		{ids, `m.safetensors: tensor "ids": dtype I32 is not a float type`},
		{short, `mem: tensor "short": 10 data bytes do not hold BF16 [2 3]`},
	} {
		if _, err := tensorMatrix(c.tensor); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tensorMatrix(%s): err = %v, want %q", c.tensor.Name, err, c.want)
		}
	}
}

// TestTensorMatrixZeroCopy checks that turning a mapped 8 MiB BF16 tensor
// into a matrix neither copies nor allocates: the weights stay in the
// mapping.
func TestTensorMatrixZeroCopy(t *testing.T) {
	const rows, cols = 2048, 2048
	data := make([]byte, 2*rows*cols)
	for i := 0; i < len(data); i += 2 {
		data[i+1] = byte(0x3f + i/2%3) // 0x3f00, 0x4000, 0x4100: 0.5, 2, 8
	}
	const name = "model.layers.0.mlp.up_proj.weight"
	path := filepath.Join(t.TempDir(), "big.safetensors")
	err := safetensors.WriteFile(path, []safetensors.WriteTensor{
		{Name: name, DType: safetensors.BF16, Shape: []int{rows, cols}, Data: data},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensor, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := tensorMatrix(tensor)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Errorf("tensorMatrix allocated %d bytes for a %d-byte tensor; want < 64 KiB", alloc, len(tensor.Data))
	}
	if allocs := testing.AllocsPerRun(10, func() {
		if _, err := tensorMatrix(tensor); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("tensorMatrix allocates %v times per call, want 0", allocs)
	}
	if matrixData(m) != unsafe.Pointer(&tensor.Data[0]) {
		t.Error("tensorMatrix copied an aligned BF16 tensor")
	}
	last := uint16(0x3f00 + 0x100*((rows*cols-1)%3))
	if m.Rows != rows || m.Cols != cols || m.DType != kernels.BF16 || m.U16[0] != 0x3f00 || m.U16[1] != 0x4000 || m.U16[len(m.U16)-1] != last {
		t.Errorf("matrix [%d, %d] %s starts %#x %#x", m.Rows, m.Cols, m.DType, m.U16[0], m.U16[1])
	}
}

// matrixData is the address of m's first stored element.
func matrixData(m kernels.Matrix) unsafe.Pointer {
	if m.DType == kernels.F32 {
		return unsafe.Pointer(&m.F32[0])
	}
	return unsafe.Pointer(&m.U16[0])
}

// equalBits reports whether a and b hold the same float32 bit patterns.
func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
