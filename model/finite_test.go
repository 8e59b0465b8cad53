package model

import (
	"math"
	"testing"
)

// TestAllFiniteF32 checks the exponent-bit test against the definition on
// the values next to the edge (the largest finite float, the smallest
// subnormal, -0), every non-finite kind, at every position of slices whose
// lengths cover the 4-wide body and the tail.
func TestAllFiniteF32(t *testing.T) {
	finite := []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.MaxFloat32, -math.MaxFloat32,
		math.SmallestNonzeroFloat32, math.Float32frombits(0x007fffff), math.Float32frombits(0x7f7fffff)}
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7f800001), math.Float32frombits(0xffffffff), math.Float32frombits(0xff800000)}
	for n := 1; n <= 11; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = finite[i%len(finite)]
		}
		if !allFiniteF32(x) {
			t.Fatalf("%d finite values: reported not finite", n)
		}
		for i := range x {
			for _, v := range bad {
				y := append([]float32(nil), x...)
				y[i] = v
				if allFiniteF32(y) {
					t.Fatalf("%v at %d of %d: reported finite", v, i, n)
				}
			}
		}
	}
	if !allFiniteF32(nil) {
		t.Fatal("no values: reported not finite")
	}
}
