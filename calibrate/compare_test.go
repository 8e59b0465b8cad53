package calibrate

import (
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/profile/schema"
)

func TestCompare(t *testing.T) {
	a := rankedProfile([][]int{{0, 1, 2, 3}, {1, 0, 2, 3}}, 4, 2, 8)
	b := rankedProfile([][]int{{0, 1, 2, 3}, {2, 3, 0, 1}}, 4, 2, 8)
	a.Calibration = &schema.Calibration{TopK: 2, LayerScores: []float64{0.5, 0.5},
		Budgets: map[string][]int{"64": {64, 64}, "128": {128, 128}}}
	b.Calibration = &schema.Calibration{TopK: 2, LayerScores: []float64{0.25, 0.75},
		Budgets: map[string][]int{"64": {40, 88}}}
	c := Compare(a, b, 4)
	if c.TopK != 2 || c.ScoreL1 != 0.5 || c.MaxBudgetChange != 24 || !slices.Equal(c.Averages, []int{64}) {
		t.Errorf("comparison top-k %d, L1 %v, max change %d, averages %v; want 2, 0.5, 24, [64]", c.TopK, c.ScoreL1, c.MaxBudgetChange, c.Averages)
	}
	if c.Layers[0].Overlap != 2 || c.Layers[1].Overlap != 0 {
		t.Errorf("overlaps %d, %d; want 2, 0", c.Layers[0].Overlap, c.Layers[1].Overlap)
	}
	if want := []string{"average budget 128 only in the first profile"}; !slices.Equal(c.Notes, want) {
		t.Errorf("notes %q, want %q", c.Notes, want)
	}

	drift := strings.Join(c.Drift(Tolerance{}), "\n")
	for _, want := range []string{
		"average budget 128 only in the first profile",
		"layer 1: top-2 heads overlap 0/2 ([1 0] vs [2 3])",
		"layer 0: budget changes by up to 24 tokens",
		"layer 1: budget changes by up to 24 tokens",
		"layer scores differ by 0.5 in L1",
	} {
		if !strings.Contains(drift, want) {
			t.Errorf("drift report lacks %q:\n%s", want, drift)
		}
	}
	if strings.Contains(drift, "layer 0: top-2") {
		t.Errorf("drift report names layer 0's identical heads:\n%s", drift)
	}

	// Loose enough tolerances leave only the note.
	if got := c.Drift(Tolerance{ScoreL1: 0.5, BudgetChange: 24, HeadMisses: 2}); len(got) != 1 {
		t.Errorf("drift within tolerance: %q, want the budget note only", got)
	}
	// A profile against itself: nothing.
	if got := Compare(a, a, 4).Drift(Tolerance{}); len(got) != 0 {
		t.Errorf("self comparison drifts: %q", got)
	}
	// Uncalibrated against calibrated is a note; top-k falls back to the argument.
	u := rankedProfile([][]int{{0, 1, 2, 3}, {1, 0, 2, 3}}, 4, 2, 8)
	c = Compare(u, a, 3)
	if c.TopK != 3 || !slices.Contains(c.Notes, "only the second profile is calibrated") {
		t.Errorf("uncalibrated comparison: top-k %d notes %q", c.TopK, c.Notes)
	}
}
