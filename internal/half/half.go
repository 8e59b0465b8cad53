package half

import "math"

// BF16ToFloat32 widens a bfloat16 bit pattern to float32 (exact).
func BF16ToFloat32(v uint16) float32 {
	return math.Float32frombits(uint32(v) << 16)
}

// Float32ToBF16 rounds f to the nearest bfloat16, ties to even; NaN stays NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		// Set a mantissa bit so a NaN whose payload is only in the low 16
		// bits does not become infinity.
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToFloat32 widens an IEEE half-precision bit pattern to float32 (exact).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: normalise.
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// Float32ToF16 rounds f to the nearest IEEE half, ties to even. NaN stays a
// quiet NaN, values past the largest half (65504) round to infinity.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // half exponent field
	if e >= 31 {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Half subnormal: the value in units of 2^-24 is m·2^(exp-126).
		if exp == 0 {
			return sign // float32 subnormals are far below half's range
		}
		m := mant | 0x800000
		shift := uint(126 - exp)
		if shift >= 25 {
			return sign // below half the smallest subnormal
		}
		q, r, mid := m>>shift, m&(1<<shift-1), uint32(1)<<(shift-1)
		if r > mid || (r == mid && q&1 == 1) {
			q++
		}
		return sign | uint16(q)
	}
	q := uint16(e)<<10 | uint16(mant>>13)
	r := mant & 0x1fff
	if r > 0x1000 || (r == 0x1000 && q&1 == 1) {
		q++ // a carry into the exponent is the right rounding, up to infinity
	}
	return sign | q
}
