package model

import (
	"math"
	"testing"
)

// TestRopeTable: angles read from the growing table equal the direct
// computation from invFreqAt bit for bit (float64 products under
// RopeExact, float32 products under RopeHF), in any call order, and
// dynamic NTK past max_position_embeddings rotates every position of a
// call with the frequencies of the call's sequence length.
func TestRopeTable(t *testing.T) {
	for _, arithmetic := range []RopeArithmetic{RopeHF, RopeExact} {
		for _, tc := range []struct {
			name    string
			scaling *RopeScaling
		}{
			{"plain", nil},
			{"llama3", &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 16}},
			{"dynamic", &RopeScaling{Type: "dynamic", Factor: 2}},
		} {
			t.Run(arithmetic.String()+"/"+tc.name, func(t *testing.T) {
				r := newRope(&Config{HeadDim: 16, RopeTheta: 10000, MaxPositionEmbeddings: 64, RopeScaling: tc.scaling}, arithmetic)
				var table ropeTable
				buf := make([]float32, 2*100*8)
				for _, call := range []struct{ p0, n, seqLen int }{{0, 1, 1}, {1, 7, 8}, {8, 1, 9}, {0, 30, 30}, {9, 40, 49}, {49, 15, 64},
					{60, 10, 70}, {60, 10, 90}, {70, 1, 71}, {3, 2, 5}, {0, 20, 100}} {
					cos, sin := r.angles(&table, buf, call.p0, call.n, call.seqLen)
					inv := r.invFreqAt(call.seqLen)
					if len(cos) != call.n*8 || len(sin) != call.n*8 {
						t.Fatalf("p0=%d n=%d: %d cos, %d sin values", call.p0, call.n, len(cos), len(sin))
					}
					for i := 0; i < call.n; i++ {
						for j, f := range inv {
							angle := float64(call.p0+i) * f
							if arithmetic == RopeHF {
								angle = float64(float32(call.p0+i) * float32(f))
							}
							s, c := math.Sincos(angle)
							if cos[i*8+j] != float32(c) || sin[i*8+j] != float32(s) {
								t.Fatalf("%+v: position %d pair %d: (%g, %g), want (%g, %g)", call, call.p0+i, j, cos[i*8+j], sin[i*8+j], c, s)
							}
						}
					}
				}
				if tc.name == "dynamic" && table.positions > 64 {
					t.Fatalf("dynamic table holds %d positions, past max_position_embeddings 64", table.positions)
				}
			})
		}
	}
}

// TestHFFrequencies checks inv_freq under RopeHF against values worked out
// by hand: with theta 10000 and head_dim 8 the exponents 0, 1/4, 1/2, 3/4
// are exact in float32 and the powers are 1, 10, 100, 1000, so inv_freq is
// the float32 roundings of 1, 0.1, 0.01 and 0.001 (float64 ones under
// RopeExact).
func TestHFFrequencies(t *testing.T) {
	cfg := &Config{HeadDim: 8, RopeTheta: 10000, MaxPositionEmbeddings: 64}
	hf := []float64{1, float64(float32(0.1)), float64(float32(0.01)), float64(float32(0.001))}
	exact := []float64{1, 0.1, 0.01, 0.001}
	check := func(what string, got, want []float64, relTol float64) {
		t.Helper()
		for i := range want {
			if math.Abs(got[i]-want[i]) > relTol*want[i] {
				t.Errorf("%s: inv_freq[%d] = %.10g, want %.10g", what, i, got[i], want[i])
			}
		}
	}
	check("default hf", newRope(cfg, RopeHF).invFreq, hf, 0)
	check("default exact", newRope(cfg, RopeExact).invFreq, exact, 1e-15)

	// Linear factor 4: a division by a power of two, exact in both.
	lin := *cfg
	lin.RopeScaling = &RopeScaling{Type: "linear", Factor: 4}
	check("linear hf", newRope(&lin, RopeHF).invFreq, []float64{0.25, hf[1] / 4, hf[2] / 4, hf[3] / 4}, 0)

	// llama3 with original context 1024, low 1, high 4: wavelengths 2pi/inv
	// are 6.3, 63, 628 and 6283; under 1024/4 = 256 they are kept, over
	// 1024/1 divided by the factor 8, and 628 is in the smooth band:
	// smooth = (1024/628.3185 - 1)/3 = 0.209915, inv = 0.01 *
	// ((1-smooth)/8 + smooth) = 0.00308676.
	l3 := *cfg
	l3.RopeScaling = &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 1024}
	smooth := (1024/(2*math.Pi/0.01) - 1) / 3
	check("llama3 hf", newRope(&l3, RopeHF).invFreq, []float64{1, hf[1], 0.01 * ((1-smooth)/8 + smooth), hf[3] / 8}, 2e-7)
	check("llama3 exact", newRope(&l3, RopeExact).invFreq, []float64{1, 0.1, 0.00308676, 0.001 / 8}, 1e-6)

	// Dynamic factor 2 up to max_position_embeddings 64: the plain values.
	// At 128 tokens the base is 10000 * (2*128/64 - 1)^(8/6) = 10000 *
	// 3^(4/3) = 43267.487, so inv_freq[i] = 43267.487^(-i/4).
	dyn := *cfg
	dyn.RopeScaling = &RopeScaling{Type: "dynamic", Factor: 2}
	r := newRope(&dyn, RopeHF)
	check("dynamic hf at 64", r.invFreqAt(64), hf, 0)
	base := 43267.487
	want := []float64{1, math.Pow(base, -0.25), math.Pow(base, -0.5), math.Pow(base, -0.75)}
	check("dynamic hf at 128", r.invFreqAt(128), want, 2e-7)
	check("dynamic exact at 128", newRope(&dyn, RopeExact).invFreqAt(128), want, 1e-8)
}

// TestHFAngles: at position 2^20 the float32 angle of inv_freq 0.1 is
// 2^20 * float32(0.1) = 104857.6015625 exactly (float32(0.1) =
// 13421773 / 2^27), 1.56e-3 radians past the exact 104857.6: RopeHF
// rotates by the former, RopeExact by the latter.
func TestHFAngles(t *testing.T) {
	cfg := &Config{HeadDim: 8, RopeTheta: 10000, MaxPositionEmbeddings: 1 << 21}
	const pos = 1 << 20
	for _, tc := range []struct {
		arithmetic RopeArithmetic
		angle      float64
	}{{RopeHF, 104857.6015625}, {RopeExact, 104857.6}} {
		r := newRope(cfg, tc.arithmetic)
		cos, sin := make([]float32, 4), make([]float32, 4)
		r.fill(cos, sin, r.invFreq, pos, 1)
		if c, s := float32(math.Cos(tc.angle)), float32(math.Sin(tc.angle)); cos[1] != c || sin[1] != s {
			t.Errorf("%v: pair 1 at position 2^20: (cos, sin) = (%.8g, %.8g), want those of %.10g: (%.8g, %.8g)", tc.arithmetic, cos[1], sin[1], tc.angle, c, s)
		}
	}
}

// TestApplyRope rotates one head of four values (two pairs) by hand: pair 0
// by 90 degrees, pair 1 by 0.
func TestApplyRope(t *testing.T) {
	x := []float32{1, 2, 3, 4} // pairs (x[0], x[2]) and (x[1], x[3])
	applyRope(x, 1, 1, 4, []float32{0, 1}, []float32{1, 0})
	// (1, 3) -> (1*0 - 3*1, 3*0 + 1*1) = (-3, 1); (2, 4) unchanged.
	if want := []float32{-3, 2, 1, 4}; x[0] != want[0] || x[1] != want[1] || x[2] != want[2] || x[3] != want[3] {
		t.Fatalf("applyRope = %v, want %v", x, want)
	}
}

func TestParseRopeArithmetic(t *testing.T) {
	for _, a := range []RopeArithmetic{RopeHF, RopeExact} {
		got, err := ParseRopeArithmetic(a.String())
		if err != nil || got != a {
			t.Errorf("ParseRopeArithmetic(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := ParseRopeArithmetic("float64"); err == nil {
		t.Error("ParseRopeArithmetic accepted float64")
	}
	if RopeArithmetic(0) != RopeHF {
		t.Error("the zero value is not RopeHF")
	}
}
