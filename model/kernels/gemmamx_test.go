package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// skipWithoutAMX returns the AMX kernel sets or skips: AMX is a property
// of the CPU (Sapphire Rapids and later) and the OS, not of the checkout,
// so its absence is not a broken test.
func skipWithoutAMX(t *testing.T) []kernelSet {
	t.Helper()
	sets := amxSets()
	if len(sets) == 0 {
		t.Skip("no AMX-BF16 on this CPU or OS: the AMX kernel does not run here")
	}
	return sets
}

// TestAMXAddsAPairExactly pins the measured (not specified) difference
// of TDPBF16PS from the twin: a k pair's two products are added exactly
// and rounded once before they join the output. x = 1 (34 times) times
// w = 1, 0 x 31, 2^-24, 2^-24: the first 16-pair step leaves 1, the tail
// step's one pair adds 2^-23 exactly: 1 + 2^-23. The twin's VDPBF16PS
// chain rounds 1 + 2^-24 to even (1) twice and gives 1.
func TestAMXAddsAPairExactly(t *testing.T) {
	ks := skipWithoutAMX(t)[0]
	const k = 34
	x := make([]uint16, k)
	w := Matrix{Rows: k, Cols: 1, DType: F32, F32: make([]float32, k)} // [k, n]
	for i := range x {
		x[i] = Float32ToBF16(1)
	}
	w.F32[0], w.F32[32], w.F32[33] = 1, 0x1p-24, 0x1p-24
	var p PackedBF16
	PackBF16N(&p, w)
	for _, c := range []struct {
		set  kernelSet
		want float32
	}{{ks, 1 + 0x1p-23}, {goKernels, 1}} {
		out := []float32{7}
		mulPackedBF16With(c.set, out, 1, x, k, 1, &p, false)
		if out[0] != c.want {
			t.Errorf("%s: 1 + 2^-24 + 2^-24 = %.9g, want %.9g", c.set.name, out[0], c.want)
		}
	}
}

// TestAMXMatchesReferenceAndRows: MatMulBF16 and MulPackedBF16 under AMX
// on ragged shapes (row counts around the 16- and 32-row tiles, k pairs
// around the 16-pair step and the 256-pair block, partial panels): within
// the float32 summation bound of the float64 reference, the untouched
// floats past each row left alone, every row the bits it gets alone, and
// MulPackedBF16 without accumulate MatMulBF16's bits.
func TestAMXMatchesReferenceAndRows(t *testing.T) {
	ks := skipWithoutAMX(t)[0]
	r := rand.New(rand.NewPCG(61, 62))
	for _, m := range []int{1, 15, 16, 17, 32, 33, 70} {
		for _, n := range []int{1, 32, 33, 100} {
			for _, k := range []int{1, 2, 31, 32, 33, 64, 513, 1030} {
				dt := []DType{F32, BF16, F16}[(m+n+k)%3]
				w := randomMatrix(r, n, k, dt)
				x := randomFloats(r, m*k)
				var p PackedBF16
				PackBF16(&p, w)
				out := make([]float32, m*n+1)
				out[m*n] = 42
				mulBF16With(ks, out, x, m, &p)
				if out[m*n] != 42 {
					t.Fatalf("m=%d n=%d k=%d: wrote past out[:m*n]", m, n, k)
				}
				gamma := float64(k+1) * 0x1p-24 / (1 - float64(k+1)*0x1p-24)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						want, abs := refBF16(x, w, i, j)
						if got := float64(out[i*n+j]); math.Abs(got-want) > gamma*abs {
							t.Fatalf("m=%d n=%d k=%d %s: out[%d,%d] = %g, want %g ± %g", m, n, k, dt, i, j, got, want, gamma*abs)
						}
					}
				}
				for _, i := range []int{0, m / 2, m - 1} {
					alone := make([]float32, n)
					mulBF16With(ks, alone, x[i*k:(i+1)*k], 1, &p)
					if !slices.Equal(bitsOf(alone), bitsOf(out[i*n:(i+1)*n])) {
						t.Fatalf("m=%d n=%d k=%d: row %d alone differs from its bits among %d rows", m, n, k, i, m)
					}
				}
				ldx, ldo := 2*p.kp+4, n+3
				xb := roundedRows(x, m, k, ldx)
				packed := make([]float32, m*ldo)
				mulPackedBF16With(ks, packed, ldo, xb, ldx, m, &p, false)
				for i := 0; i < m; i++ {
					if !slices.Equal(bitsOf(packed[i*ldo:i*ldo+n]), bitsOf(out[i*n:(i+1)*n])) {
						t.Fatalf("m=%d n=%d k=%d: MulPackedBF16 row %d differs from MatMulBF16's", m, n, k, i)
					}
					for j := n; j < ldo; j++ {
						if packed[i*ldo+j] != 0 {
							t.Fatalf("m=%d n=%d k=%d: MulPackedBF16 wrote out[%d,%d] past n", m, n, k, i, j)
						}
					}
				}
			}
		}
	}
}

// TestAMXAccumulate: with accumulate every 256-pair block continues the
// output it finds, so a product split at a block boundary into two calls
// (the first without accumulate) gives the one call's bits.
func TestAMXAccumulate(t *testing.T) {
	ks := skipWithoutAMX(t)[0]
	r := rand.New(rand.NewPCG(63, 64))
	const m, n, k = 40, 64, 2 * 2 * bf16KP
	w := randomMatrix(r, k, n, BF16) // [k, n]
	x := randomFloats(r, m*k)
	ldx := k
	xb := roundedRows(x, m, k, ldx)
	var p PackedBF16
	PackBF16N(&p, w)
	whole := make([]float32, m*n)
	mulPackedBF16With(ks, whole, n, xb, ldx, m, &p, false)
	split := make([]float32, m*n)
	half := p.View(k/2, n)
	mulPackedBF16With(ks, split, n, xb, ldx, m, half, false)
	var rest PackedBF16
	PackBF16N(&rest, Matrix{Rows: k / 2, Cols: n, DType: BF16, U16: w.U16[k/2*n:]})
	tail := make([]uint16, m*(k/2))
	for i := 0; i < m; i++ {
		copy(tail[i*k/2:], xb[i*ldx+k/2:(i+1)*ldx])
	}
	mulPackedBF16With(ks, split, n, tail, k/2, m, &rest, true)
	if !slices.Equal(bitsOf(whole), bitsOf(split)) {
		t.Fatal("a product in two calls at a block boundary differs from the one call")
	}
}

// TestAMXNonFinite: a NaN or infinite operand makes the output non-finite
// under AMX exactly where it does under the twin, so the model's finite
// checks see the same failures.
func TestAMXNonFinite(t *testing.T) {
	ks := skipWithoutAMX(t)[0]
	r := rand.New(rand.NewPCG(65, 66))
	const m, n, k = 20, 40, 300
	x := randomFloats(r, m*k)
	w := Matrix{Rows: n, Cols: k, DType: F32, F32: randomFloats(r, n*k)}
	x[3*k+5] = float32(math.NaN())
	x[7*k+100] = float32(math.Inf(1))
	w.F32[11*k+299] = float32(math.Inf(-1))
	var p PackedBF16
	PackBF16(&p, w)
	g, a := make([]float32, m*n), make([]float32, m*n)
	mulBF16With(goKernels, g, x, m, &p)
	mulBF16With(ks, a, x, m, &p)
	bad := 0
	for i := range g {
		gf, af := !math.IsNaN(float64(g[i])) && !math.IsInf(float64(g[i]), 0), !math.IsNaN(float64(a[i])) && !math.IsInf(float64(a[i]), 0)
		if gf != af {
			t.Fatalf("out[%d]: twin %g, AMX %g", i, g[i], a[i])
		}
		if !gf {
			bad++
		}
	}
	if bad != n+n+m-2 {
		t.Errorf("%d non-finite outputs, want rows 3 and 7 and column 11: %d", bad, n+n+m-2)
	}
}

func bitsOf(f []float32) []uint32 {
	b := make([]uint32, len(f))
	for i, v := range f {
		b[i] = math.Float32bits(v)
	}
	return b
}
