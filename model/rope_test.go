package model

import (
	"math"
	"testing"
)

// TestRopeTable: angles read from the growing table equal the direct
// float64 Sincos of position * inv_freq bit for bit, in any call order, and
// dynamic NTK past max_position_embeddings computes its own frequencies.
func TestRopeTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scaling *RopeScaling
	}{
		{"plain", nil},
		{"llama3", &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 16}},
		{"dynamic", &RopeScaling{Type: "dynamic", Factor: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRope(&Config{HeadDim: 16, RopeTheta: 10000, MaxPositionEmbeddings: 64, RopeScaling: tc.scaling})
			var table ropeTable
			buf := make([]float32, 2*100*8)
			for _, call := range []struct{ p0, n int }{{0, 1}, {1, 7}, {8, 1}, {0, 30}, {9, 40}, {49, 15}, {60, 10}, {70, 1}, {3, 2}} {
				cos, sin := r.angles(&table, buf, call.p0, call.n)
				inv := r.invFreqAt(call.p0 + call.n)
				if len(cos) != call.n*8 || len(sin) != call.n*8 {
					t.Fatalf("p0=%d n=%d: %d cos, %d sin values", call.p0, call.n, len(cos), len(sin))
				}
				for i := 0; i < call.n; i++ {
					for j, f := range inv {
						s, c := math.Sincos(float64(call.p0+i) * f)
						if cos[i*8+j] != float32(c) || sin[i*8+j] != float32(s) {
							t.Fatalf("p0=%d n=%d: position %d pair %d: (%g, %g), want (%g, %g)", call.p0, call.n, call.p0+i, j, cos[i*8+j], sin[i*8+j], c, s)
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
