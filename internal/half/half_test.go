package half

import (
	"math"
	"testing"
)

// TestNarrowBitPatterns checks the rounding of both narrowings against bit
// patterns worked out by hand.
func TestNarrowBitPatterns(t *testing.T) {
	inf := float32(math.Inf(1))
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
		{"largest float32 overflows bf16 to infinity", math.MaxFloat32, 0x7c00, 0x7f80},
		{"largest bf16 0x1.fep127", 0x1.fep127, 0x7c00, 0x7f7f},
		{"+inf", inf, 0x7c00, 0x7f80},
		{"-inf", -inf, 0xfc00, 0xff80},
		{"half of smallest f16 subnormal: tie to even zero", 0x1p-25, 0x0000, 0x3300},
		{"just above half of smallest subnormal", 0x1.000002p-25, 0x0001, 0x3300},
		{"1.5 * smallest subnormal: tie to even 2", 1.5 * 0x1p-24, 0x0002, 0x33c0},
		{"float32 subnormal 2^-149", 0x1p-149, 0x0000, 0x0000},
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
			if got := Float32ToF16(tt.in); got != tt.f16 {
				t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", tt.in, got, tt.f16)
			}
			if got := Float32ToBF16(tt.in); got != tt.bf16 {
				t.Errorf("Float32ToBF16(%g) = %#04x, want %#04x", tt.in, got, tt.bf16)
			}
		})
	}
}

// TestNarrowNaN checks that every NaN stays a NaN of the same sign, also
// when its payload sits only in the bits the narrowing drops.
func TestNarrowNaN(t *testing.T) {
	tests := []struct {
		bits      uint32 // float32 NaN
		f16, bf16 uint16
	}{
		{0x7fc00000, 0x7e00, 0x7fc0}, // the default quiet NaN
		{0xffc00000, 0xfe00, 0xffc0},
		{0x7f800001, 0x7e00, 0x7fc0}, // payload only in the lowest bit
		{0xff800001, 0xfe00, 0xffc0},
		{0x7f812345, 0x7e09, 0x7fc1}, // signalling NaN: quieted, high payload kept
	}
	for _, tt := range tests {
		f := math.Float32frombits(tt.bits)
		if got := Float32ToF16(f); got != tt.f16 {
			t.Errorf("Float32ToF16(NaN %#08x) = %#04x, want %#04x", tt.bits, got, tt.f16)
		}
		if got := Float32ToBF16(f); got != tt.bf16 {
			t.Errorf("Float32ToBF16(NaN %#08x) = %#04x, want %#04x", tt.bits, got, tt.bf16)
		}
	}
}

// TestWidenBitPatterns checks both widenings on bit patterns worked out by
// hand.
func TestWidenBitPatterns(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	tests := []struct {
		name string
		bits uint16
		f16  float32
		bf16 float32
	}{
		{"zero", 0x0000, 0, 0},
		{"minus zero", 0x8000, negZero, negZero},
		{"smallest subnormal", 0x0001, 0x1p-24, 0x1p-133},
		{"largest f16 subnormal", 0x03ff, 1023 * 0x1p-24, 0x1.fep-120}, // bf16 0x03ff: exponent 7, mantissa 0x7f
		{"smallest f16 normal", 0x0400, 0x1p-14, 0x1p-119},             // bf16 0x0400: exponent 8
		{"one", 0x3c00, 1, 0x1p-7},                                     // bf16 0x3c00 = 2^-7
		{"bf16 one", 0x3f80, 1.875, 1},                                 // f16 0x3f80 = 1 + 0x380/1024
		{"minus 2.5", 0xc100, -2.5, -8},                                // bf16 0xc100 = -2^3
		{"f16 max", 0x7bff, 65504, 0x1.fep120},
		{"f16 +inf", 0x7c00, inf, 0x1p121},
		{"f16 -inf", 0xfc00, -inf, -0x1p121},
		{"bf16 max", 0x7f7f, float32(math.NaN()), 0x1.fep127}, // as F16, 0x7f7f is a NaN
		{"bf16 +inf", 0x7f80, float32(math.NaN()), inf},
		{"bf16 -inf", 0xff80, float32(math.NaN()), -inf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := F16ToFloat32(tt.bits)
			if tt.f16 != tt.f16 {
				if got == got {
					t.Errorf("F16ToFloat32(%#04x) = %g, want NaN", tt.bits, got)
				}
			} else if math.Float32bits(got) != math.Float32bits(tt.f16) {
				t.Errorf("F16ToFloat32(%#04x) = %g, want %g", tt.bits, got, tt.f16)
			}
			if got := BF16ToFloat32(tt.bits); math.Float32bits(got) != math.Float32bits(tt.bf16) {
				t.Errorf("BF16ToFloat32(%#04x) = %g, want %g", tt.bits, got, tt.bf16)
			}
		})
	}
}

// f16Value is the value of a half-precision bit pattern from the IEEE
// definition, computed in float64: an independent reference for
// F16ToFloat32.
func f16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(mant, -24)
	case 0x1f:
		if mant != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(1024+mant, exp-25)
}

// bf16Value is the value of a bfloat16 bit pattern from its definition
// (float32 with 7 mantissa bits), computed in float64.
func bf16Value(v uint16) float64 {
	sign := 1.0
	if v&0x8000 != 0 {
		sign = -1
	}
	exp := int(v>>7) & 0xff
	mant := float64(v & 0x7f)
	switch exp {
	case 0:
		return sign * math.Ldexp(mant, -133)
	case 0xff:
		if mant != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(128+mant, exp-134)
}

// TestWidenExhaustive checks every 16-bit pattern against the definition of
// each format: widening is exact, keeps the sign of zero and keeps a NaN's
// payload.
func TestWidenExhaustive(t *testing.T) {
	for _, c := range []struct {
		name     string
		widen    func(uint16) float32
		ref      func(uint16) float64
		nanShift uint // where the payload lands in the float32 mantissa
		mantMask uint16
	}{
		{"F16ToFloat32", F16ToFloat32, f16Value, 13, 0x3ff},
		{"BF16ToFloat32", BF16ToFloat32, bf16Value, 16, 0x7f},
	} {
		for i := 0; i < 1<<16; i++ {
			v := uint16(i)
			got, want := c.widen(v), c.ref(v)
			if want != want {
				bits := math.Float32bits(got)
				if got == got || bits>>31 != uint32(v>>15) || bits&0x7fffff != uint32(v&c.mantMask)<<c.nanShift {
					t.Fatalf("%s(%#04x) = %#08x, want a NaN with the same sign and payload", c.name, v, bits)
				}
				continue
			}
			if math.Float32bits(got) != math.Float32bits(float32(want)) || float64(got) != want {
				t.Fatalf("%s(%#04x) = %g, want %g", c.name, v, got, want)
			}
		}
	}
}

// TestNarrowExhaustive checks every 16-bit value of each format: widening
// and rounding back is the identity (NaNs come back quiet), the midpoint
// between two neighbours rounds to the one with an even mantissa, and a
// value just off the midpoint rounds to the nearer neighbour.
func TestNarrowExhaustive(t *testing.T) {
	for _, c := range []struct {
		name           string
		narrow         func(float32) uint16
		widen          func(uint16) float32
		expMask, quiet uint16
		max            uint16 // largest finite magnitude
	}{
		{"Float32ToF16", Float32ToF16, F16ToFloat32, 0x7c00, 0x0200, 0x7bff},
		{"Float32ToBF16", Float32ToBF16, BF16ToFloat32, 0x7f80, 0x0040, 0x7f7f},
	} {
		for i := 0; i < 1<<16; i++ {
			v := uint16(i)
			f := c.widen(v)
			if v&c.expMask == c.expMask && v&^(0x8000|c.expMask) != 0 {
				if got := c.narrow(f); got != v|c.quiet {
					t.Fatalf("%s(NaN %#04x widened) = %#04x, want %#04x", c.name, v, got, v|c.quiet)
				}
				continue
			}
			if got := c.narrow(f); got != v {
				t.Fatalf("%s(%g) = %#04x, want %#04x", c.name, f, got, v)
			}
			if v&0x7fff >= c.max {
				continue // no finite upper neighbour
			}
			next := c.widen(v + 1)
			// Exact in float32: both formats carry at most 11 significant
			// bits, the midpoint one more.
			mid := float32((float64(f) + float64(next)) / 2)
			want := v
			if v&1 == 1 {
				want = v + 1
			}
			if got := c.narrow(mid); got != want {
				t.Fatalf("%s(midpoint %g of %#04x and %#04x) = %#04x, want %#04x", c.name, mid, v, v+1, got, want)
			}
			above := math.Nextafter32(mid, float32(math.Inf(1)))
			below := math.Nextafter32(mid, float32(math.Inf(-1)))
			if v&0x8000 != 0 {
				above, below = below, above // magnitudes grow towards -inf
			}
			if got := c.narrow(above); got != v+1 {
				t.Fatalf("%s(%g, just past the midpoint) = %#04x, want %#04x", c.name, above, got, v+1)
			}
			if got := c.narrow(below); got != v {
				t.Fatalf("%s(%g, just before the midpoint) = %#04x, want %#04x", c.name, below, got, v)
			}
		}
	}
}
