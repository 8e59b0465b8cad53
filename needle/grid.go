package needle

import (
	"fmt"
	"math"
)

// Grid is the set of probe positions: every context length at every depth.
type Grid struct {
	ContextLengths []int     // target prompt lengths in tokens
	Depths         []float64 // needle depth in percent, 0 (start) .. 100 (end)
	Buffer         int       // tokens kept free for the question and answer; the reference uses 200
}

// DefaultBuffer is the reference's final_context_length_buffer.
const DefaultBuffer = 200

// Validate reports a grid that cannot produce probes.
func (g Grid) Validate() error {
	if len(g.ContextLengths) == 0 {
		return fmt.Errorf("probe grid: no context lengths")
	}
	if len(g.Depths) == 0 {
		return fmt.Errorf("probe grid: no depths")
	}
	if len(g.ContextLengths) > MaxGridPoints || len(g.Depths) > MaxGridPoints {
		return fmt.Errorf("probe grid: %d context lengths and %d depths, want at most %d of each", len(g.ContextLengths), len(g.Depths), MaxGridPoints)
	}
	if g.Buffer < 0 || g.Buffer > MaxLength {
		return fmt.Errorf("probe grid: buffer %d, want 0..%d", g.Buffer, MaxLength)
	}
	for _, l := range g.ContextLengths {
		if l <= 0 || l > MaxLength {
			return fmt.Errorf("probe grid: context length %d, want 1..%d", l, MaxLength)
		}
	}
	for _, d := range g.Depths {
		if !(d >= 0 && d <= 100) {
			return fmt.Errorf("probe grid: depth %v, want a percent in 0..100", d)
		}
	}
	return nil
}

// linspace is numpy.linspace(start, stop, n, endpoint=True): start + i*step
// with step = (stop-start)/(n-1), and the last value exactly stop.
func linspace(start, stop float64, n int) []float64 {
	if n <= 0 {
		return nil
	}
	if n == 1 {
		return []float64{start}
	}
	step := (stop - start) / float64(n-1)
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)*step + start
	}
	out[n-1] = stop
	return out
}

// LinearLengths returns n context lengths spaced linearly from min to max,
// rounded half to even like the reference's
// np.round(np.linspace(min, max, n)).astype(int).
func LinearLengths(min, max, n int) []int {
	xs := linspace(float64(min), float64(max), n)
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(math.RoundToEven(x))
	}
	return out
}

// LinearDepths returns n depths spaced linearly from min to max percent,
// rounded to whole percent (half to even) as the reference does
// (np.round(np.linspace(...)).astype(int)): 0..100 in 10 steps gives
// 0, 11, 22, 33, 44, 56, 67, 78, 89, 100.
func LinearDepths(min, max float64, n int) []float64 {
	xs := linspace(min, max, n)
	for i, x := range xs {
		xs[i] = math.RoundToEven(x)
	}
	return xs
}

// LogisticDepths returns the reference's "sigmoid" depth spacing: n points
// spaced linearly from min to max, each mapped through
// 100 / (1 + exp(-0.1 (x - 50))) rounded to 3 decimals, except that 0 stays
// 0 and 100 stays 100. Depths crowd near the start and the end.
func LogisticDepths(min, max float64, n int) []float64 {
	xs := linspace(min, max, n)
	for i, x := range xs {
		xs[i] = logistic(x)
	}
	return xs
}

func logistic(x float64) float64 {
	const l, x0, k = 100.0, 50.0, 0.1
	if x == 0 || x == 100 {
		return x
	}
	v := l / (1 + math.Exp(-k*(x-x0)))
	return math.RoundToEven(v*1000) / 1000
}
