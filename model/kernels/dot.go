package kernels

import "math"

// Dot products: the exported entry points, the pure-Go twins of the
// assembly in dot_amd64.s, and the plain reference the tests compare with.

// Dot returns the dot product of a and b[:len(a)].
func Dot(a, b []float32) float32 {
	return dotF32(a, b[:len(a)])
}

// DotBF16 returns the dot product of a and the bfloat16 words b[:len(a)]
// (a key row of a bf16 KV cache), widening b exactly.
func DotBF16(a []float32, b []uint16) float32 {
	return dotBF16(a, b[:len(a)])
}

// dotRef is the plain k-ordered dot product the tests compare against.
func dotRef(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func dotGo(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBF16Go(a []float32, b []uint16) float32 {
	var s0, s1 float32
	b = b[:len(a)]
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += a[i] * math.Float32frombits(uint32(b[i])<<16)
		s1 += a[i+1] * math.Float32frombits(uint32(b[i+1])<<16)
	}
	for ; i < len(a); i++ {
		s0 += a[i] * math.Float32frombits(uint32(b[i])<<16)
	}
	return s0 + s1
}

func dotF16Go(a []float32, b []uint16) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * F16ToFloat32(b[i])
	}
	return s
}
