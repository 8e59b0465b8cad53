package safetensors

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/compresskv/compresskv/model/kernels"
)

// TestFloat16BitPatterns checks the writers' rounding against bit patterns
// worked out by hand.
func TestFloat16BitPatterns(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	tests := []struct {
		name string
		in   float32
		f16  uint16
		bf16 uint16
	}{
		{"one", 1, 0x3c00, 0x3f80},
		{"minus 2.5", -2.5, 0xc100, 0xc020},
		{"zero", 0, 0x0000, 0x0000},
		{"minus zero", float32(math.Copysign(0, -1)), 0x8000, 0x8000},
		{"smallest f16 subnormal 2^-24", 0x1p-24, 0x0001, 0x3380},
		{"largest f16 subnormal", 1023 * 0x1p-24, 0x03ff, 0x3880}, // bf16: 1023/1024*2^-14 rounds up to 2^-14
		{"smallest f16 normal 2^-14", 0x1p-14, 0x0400, 0x3880},
		{"smallest bf16 subnormal 2^-133", 0x1p-133, 0x0000, 0x0001},
		{"f16 max 65504", 65504, 0x7bff, 0x4780}, // bf16: 65504 = 0x477fe000 rounds up to 0x4780
		{"65519 rounds down to f16 max", 65519, 0x7bff, 0x4780},
		{"65520 tie rounds to even: infinity", 65520, 0x7c00, 0x4780},
		{"+inf", inf, 0x7c00, 0x7f80},
		{"-inf", -inf, 0xfc00, 0xff80},
		{"half of smallest f16 subnormal: tie to even zero", 0x1p-25, 0x0000, 0x3300},
		{"just above half of smallest subnormal", 0x1.000002p-25, 0x0001, 0x3300},
		{"1.5 * smallest subnormal: tie to even 2", 1.5 * 0x1p-24, 0x0002, 0x33c0},
		// bf16 ties: 1+2^-8 lies halfway between 1 (0x3f80, even) and
		// 1+2^-7 (0x3f81): it rounds to 0x3f80. 1+3*2^-8 lies between 0x3f81
		// and 0x3f82 and rounds to the even 0x3f82.
		{"bf16 tie down to even", 1 + 0x1p-8, 0x3c04, 0x3f80},
		{"bf16 tie up to even", 1 + 3*0x1p-8, 0x3c0c, 0x3f82},
		// f16 ties: 1+2^-11 is halfway between 0x3c00 and 0x3c01.
		{"f16 tie down to even", 1 + 0x1p-11, 0x3c00, 0x3f80},
		{"f16 tie up to even", 1 + 3*0x1p-11, 0x3c02, 0x3f80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f16 := binary.LittleEndian.Uint16(F16Bytes([]float32{tt.in}))
			bf16 := binary.LittleEndian.Uint16(BF16Bytes([]float32{tt.in}))
			if f16 != tt.f16 {
				t.Errorf("F16(%g) = %#04x, want %#04x", tt.in, f16, tt.f16)
			}
			if bf16 != tt.bf16 {
				t.Errorf("BF16(%g) = %#04x, want %#04x", tt.in, bf16, tt.bf16)
			}
		})
	}
	t.Run("NaN", func(t *testing.T) {
		f16 := binary.LittleEndian.Uint16(F16Bytes([]float32{nan}))
		bf16 := binary.LittleEndian.Uint16(BF16Bytes([]float32{nan}))
		if f16&0x7c00 != 0x7c00 || f16&0x03ff == 0 {
			t.Errorf("F16(NaN) = %#04x, not a NaN", f16)
		}
		if bf16&0x7f80 != 0x7f80 || bf16&0x007f == 0 {
			t.Errorf("BF16(NaN) = %#04x, not a NaN", bf16)
		}
		// A NaN whose payload sits only in the low bits must not become inf.
		low := math.Float32frombits(0x7f800001)
		if h := float32ToF16(low); h&0x03ff == 0 {
			t.Errorf("F16(NaN 0x7f800001) = %#04x, lost its NaN-ness", h)
		}
	})
}

// TestFloat32ToF16Exhaustive checks every half value: widening and rounding
// back is the identity, and the midpoint between two neighbours rounds to
// the one with an even mantissa.
func TestFloat32ToF16Exhaustive(t *testing.T) {
	for h := 0; h < 0x10000; h++ {
		v := uint16(h)
		if v&0x7c00 == 0x7c00 && v&0x3ff != 0 {
			continue // NaN
		}
		f := kernels.F16ToFloat32(v)
		if got := float32ToF16(f); got != v {
			t.Fatalf("float32ToF16(%g) = %#04x, want %#04x", f, got, v)
		}
		if v&0x7fff >= 0x7bff {
			continue // no finite upper neighbour
		}
		next := kernels.F16ToFloat32(v + 1)
		mid := float32((float64(f) + float64(next)) / 2) // exact: halves have 11 bits
		want := v
		if v&1 == 1 {
			want = v + 1
		}
		if got := float32ToF16(mid); got != want {
			t.Fatalf("float32ToF16(midpoint %g of %#04x and %#04x) = %#04x, want %#04x", mid, v, v+1, got, want)
		}
		// Just off the midpoint, rounding must go to the nearer side.
		above := math.Nextafter32(mid, float32(math.Inf(1)))
		below := math.Nextafter32(mid, float32(math.Inf(-1)))
		if v&0x8000 != 0 {
			above, below = below, above // magnitudes grow towards -inf
		}
		if got := float32ToF16(above); got != v+1 {
			t.Fatalf("float32ToF16(%g, just past the midpoint) = %#04x, want %#04x", above, got, v+1)
		}
		if got := float32ToF16(below); got != v {
			t.Fatalf("float32ToF16(%g, just before the midpoint) = %#04x, want %#04x", below, got, v)
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
