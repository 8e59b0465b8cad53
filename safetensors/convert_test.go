package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/compresskv/compresskv/internal/half"
)

// TestFloatBytes checks the writers' byte order and that they round through
// internal/half (whose own tests cover the rounding bit by bit): 65520 is a
// tie that rounds to even, F16 infinity and BF16 0x4780.
func TestFloatBytes(t *testing.T) {
	in := []float32{1, -2.5, 65520, 0.15625}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"F32Bytes", F32Bytes(in), []byte{0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, 0x00, 0xf0, 0x7f, 0x47, 0x00, 0x00, 0x20, 0x3e}},
		{"F16Bytes", F16Bytes(in), []byte{0x00, 0x3c, 0x00, 0xc1, 0x00, 0x7c, 0x00, 0x31}},
		{"BF16Bytes", BF16Bytes(in), []byte{0x80, 0x3f, 0x20, 0xc0, 0x80, 0x47, 0x20, 0x3e}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s(%v) = % x, want % x", tt.name, in, tt.got, tt.want)
		}
	}
	for i, v := range in {
		if got, want := binary.LittleEndian.Uint16(F16Bytes(in)[2*i:]), half.Float32ToF16(v); got != want {
			t.Errorf("F16Bytes[%d] = %#04x, half.Float32ToF16(%g) = %#04x", i, got, v, want)
		}
		if got, want := binary.LittleEndian.Uint16(BF16Bytes(in)[2*i:]), half.Float32ToBF16(v); got != want {
			t.Errorf("BF16Bytes[%d] = %#04x, half.Float32ToBF16(%g) = %#04x", i, got, v, want)
		}
	}
}

// TestReadFloat32 widens each float dtype, whole and by blocks.
func TestReadFloat32(t *testing.T) {
	values := []float32{1, -2.5, 0.15625, 3, 65504, -0.5}
	for _, d := range []DType{F32, F16, BF16} {
		t.Run(d.String(), func(t *testing.T) {
			var data []byte
			switch d {
			case F32:
				data = F32Bytes(values)
			case F16:
				data = F16Bytes(values)
			case BF16:
				data = BF16Bytes(values)
			}
			want := []float32{1, -2.5, 0.15625, 3, 65504, -0.5}
			if d == BF16 {
				want[4] = 65536 // 65504 needs 11 mantissa bits; bf16 has 8
			}
			tensor := Tensor{TensorInfo: TensorInfo{Name: "x", DType: d, Shape: []int{2, 3}}, File: "mem", Data: data}
			all, err := tensor.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			if !equalFloats(all, want) {
				t.Errorf("Float32s = %v, want %v", all, want)
			}
			row := make([]float32, 3)
			if err := tensor.ReadFloat32(row, 3); err != nil {
				t.Fatal(err)
			}
			if !equalFloats(row, want[3:]) {
				t.Errorf("ReadFloat32(row 1) = %v, want %v", row, want[3:])
			}
			if err := tensor.ReadFloat32(row, 4); err == nil {
				t.Error("ReadFloat32 past the end: no error")
			}
			if err := tensor.ReadFloat32(row[:1], -1); err == nil {
				t.Error("ReadFloat32 at a negative offset: no error")
			}
		})
	}
	ints := Tensor{TensorInfo: TensorInfo{Name: "ids", DType: I32, Shape: []int{1}}, File: "mem", Data: I32Bytes([]int32{7})}
	if _, err := ints.Float32s(); err == nil || !contains(err, `mem: tensor "ids": dtype I32 is not a float type`) {
		t.Errorf("Float32s on I32: err = %v", err)
	}
}

func TestInt64s(t *testing.T) {
	tests := []struct {
		d    DType
		data []byte
		want []int64
	}{
		{I8, []byte{0xff, 0x05}, []int64{-1, 5}},
		{U8, []byte{0xff, 0x05}, []int64{255, 5}},
		{I16, []byte{0xfe, 0xff, 0x00, 0x01}, []int64{-2, 256}},
		{U16, []byte{0xfe, 0xff}, []int64{65534}},
		{I32, I32Bytes([]int32{-7, math.MaxInt32}), []int64{-7, math.MaxInt32}},
		{U32, []byte{0xff, 0xff, 0xff, 0xff}, []int64{math.MaxUint32}},
		{I64, I64Bytes([]int64{math.MinInt64, 42}), []int64{math.MinInt64, 42}},
	}
	for _, tt := range tests {
		tensor := Tensor{TensorInfo: TensorInfo{Name: "x", DType: tt.d}, Data: tt.data}
		got, err := tensor.Int64s()
		if err != nil {
			t.Fatalf("%s: %v", tt.d, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%s: Int64s = %v, want %v", tt.d, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: Int64s = %v, want %v", tt.d, got, tt.want)
			}
		}
	}
	for _, d := range []DType{F32, BF16, U64, BOOL} {
		if _, err := (Tensor{TensorInfo: TensorInfo{Name: "x", DType: d}}).Int64s(); err == nil {
			t.Errorf("Int64s on %s: no error", d)
		}
	}
}

func TestDTypeNames(t *testing.T) {
	tests := []struct {
		d    DType
		name string
		size int
	}{
		{F32, "F32", 4}, {F16, "F16", 2}, {BF16, "BF16", 2}, {I32, "I32", 4}, {I64, "I64", 8},
		{F64, "F64", 8}, {I8, "I8", 1}, {U8, "U8", 1}, {I16, "I16", 2}, {U16, "U16", 2},
		{U32, "U32", 4}, {U64, "U64", 8}, {BOOL, "BOOL", 1}, {F8E4M3, "F8_E4M3", 1},
		{F8E5M2, "F8_E5M2", 1}, {F8E8M0, "F8_E8M0", 1}, {C64, "C64", 8},
	}
	if len(tests) != int(numDType) {
		t.Fatalf("table covers %d dtypes, package has %d", len(tests), numDType)
	}
	for _, tt := range tests {
		if tt.d.String() != tt.name || tt.d.ElemSize() != tt.size {
			t.Errorf("%d: String %q ElemSize %d, want %q %d", tt.d, tt.d.String(), tt.d.ElemSize(), tt.name, tt.size)
		}
		if d, ok := ParseDType(tt.name); !ok || d != tt.d {
			t.Errorf("ParseDType(%q) = %v, %v", tt.name, d, ok)
		}
	}
	if d := DType(200); d.String() != "DType(200)" || d.ElemSize() != 0 || d.Valid() {
		t.Errorf("DType(200): %q %d %v", d.String(), d.ElemSize(), d.Valid())
	}
	if _, ok := ParseDType("bf16"); ok {
		t.Error(`ParseDType("bf16") accepted a lower-case name`)
	}
}

func equalFloats(a, b []float32) bool {
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
