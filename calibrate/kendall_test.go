package calibrate

import (
	"math"
	"testing"

	"github.com/compresskv/compresskv/profile/schema"
)

func TestKendallTauB(t *testing.T) {
	for _, tc := range []struct {
		x, y []float64
		want float64
		ok   bool
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1, true},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1, true},
		// pairs (0,1) and (0,2) concordant, (1,2) discordant: (2-1)/3.
		{[]float64{1, 2, 3}, []float64{1, 3, 2}, 1.0 / 3, true},
		// one tie in x: 2 concordant over sqrt((3-1)(3-0)) (scipy.stats.kendalltau gives 0.8164965809277261).
		{[]float64{1, 1, 2}, []float64{1, 2, 3}, 2 / math.Sqrt(6), true},
		{[]float64{0, 0, 0}, []float64{1, 2, 3}, 0, false},
		{[]float64{1}, []float64{1}, 0, false},
		{[]float64{1, 2}, []float64{1, 2, 3}, 0, false},
	} {
		got, ok := KendallTauB(tc.x, tc.y)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("tau(%v, %v) = %v, %v; want %v, %v", tc.x, tc.y, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCompareJaccardTauScoring(t *testing.T) {
	mk := func(scoring string, srh [][]float64, ranking [][]int) *schema.Profile {
		return &schema.Profile{
			Model:  schema.Model{Layers: 2, Heads: 4, KVHeads: 2},
			Probes: schema.ProbeInfo{Scoring: scoring},
			Heads:  schema.Heads{SRH: srh, Ranking: ranking},
		}
	}
	a := mk("greedy", [][]float64{{4, 3, 2, 1}, {0, 0, 0, 0}}, [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}})
	b := mk("teacher-forced", [][]float64{{3, 4, 1, 2}, {1, 2, 3, 4}}, [][]int{{1, 0, 3, 2}, {3, 2, 1, 0}})
	c := Compare(a, b, 2)
	if !c.ScoringMismatch || c.ScoringA != "greedy" || c.ScoringB != "teacher-forced" {
		t.Errorf("scoring: %+v", c)
	}
	// Layer 0: top-2 {0,1} vs {1,0}: Jaccard 1; tau: 4 concordant, 2 discordant pairs: 2/6.
	// Layer 1: {0,1} vs {3,2}: Jaccard 0; A's scores all tie: tau undefined.
	l0, l1 := c.Layers[0], c.Layers[1]
	if l0.Jaccard != 1 || l0.KendallTau == nil || math.Abs(*l0.KendallTau-1.0/3) > 1e-15 {
		t.Errorf("layer 0: Jaccard %v, tau %v", l0.Jaccard, l0.KendallTau)
	}
	if l1.Jaccard != 0 || l1.KendallTau != nil {
		t.Errorf("layer 1: Jaccard %v, tau %v", l1.Jaccard, l1.KendallTau)
	}
	if c.MeanJaccard != 0.5 || c.MeanKendallTau == nil || math.Abs(*c.MeanKendallTau-1.0/3) > 1e-15 {
		t.Errorf("means: Jaccard %v, tau %v", c.MeanJaccard, c.MeanKendallTau)
	}
	// Top-3 of layer 0: {0,1,2} vs {1,0,3}: 2 shared of 4: 0.5.
	if j := Compare(a, b, 3).Layers[0].Jaccard; j != 0.5 {
		t.Errorf("top-3 Jaccard %v, want 0.5", j)
	}
	if Compare(a, a, 2).ScoringMismatch {
		t.Error("a profile differs from itself in scoring")
	}
}
