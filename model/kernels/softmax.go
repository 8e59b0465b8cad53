package kernels

import "math"

// The pieces of a softmax: the row maximum and e^((x - shift)·scale) with
// its sum. maxGo and expShiftSumGo are the twins of softmax_amd64.s.

// MaxFloat32 returns the largest element of x, NaN if any element is NaN,
// and -Inf for an empty slice.
func MaxFloat32(x []float32) float32 { return maxF32(x) }

func maxGo(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		} else if v != v {
			return v
		}
	}
	return m
}

// Softmax replaces x with softmax(x · scale): subtract the maximum,
// exponentiate, divide by the sum (formed in float32, its reciprocal in
// float64). A NaN anywhere makes every element NaN; a slice that is all
// -Inf (fully masked) becomes NaN too, as in PyTorch.
func Softmax(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	sum := float64(expShiftSum(x, MaxFloat32(x), scale))
	Scale(float32(1/sum), x)
}

// ExpShiftSum replaces every x[i] with e^((x[i] − shift) · scale) and
// returns their float32 sum: the exponentiation step of attention's softmax
// (shift the row maximum, scale 1/sqrt(headDim)). With AVX-512 it runs 16
// lanes at a time (Cephes expf, within 1e-6 relative of math.Exp); results
// below e^-120 are 0 and NaN stays NaN.
func ExpShiftSum(x []float32, shift, scale float32) float32 {
	return expShiftSum(x, shift, scale)
}

// Exp returns e**x rounded to float32, within about 1e-7 relative of
// math.Exp over the whole float32 range (overflow gives +Inf, underflow
// subnormals or 0, NaN stays NaN). It is several times faster than
// converting through math.Exp.
func Exp(x float32) float32 {
	const (
		log2e = 1.4426950408889634
		ln2   = 0.6931471805599453
	)
	switch {
	case x != x:
		return x
	case x > 88.8:
		return float32(math.Inf(1))
	case x < -104:
		return 0
	}
	// e**x = 2**n · e**r with |r| <= ln2/2; in float64 the reduction is exact
	// enough and a degree-7 Taylor polynomial leaves < 1e-8 relative error.
	xd := float64(x)
	n := math.Floor(xd*log2e + 0.5)
	r := xd - n*ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(p * math.Float64frombits(uint64(int64(n)+1023)<<52))
}

func expShiftSumGo(x []float32, shift, scale float32) float32 {
	var sum float32
	for i, v := range x {
		e := Exp((v - shift) * scale)
		x[i] = e
		sum += e
	}
	return sum
}
