package profile

import (
	"math"
	"reflect"
	"testing"
)

// onehot returns a [1][heads] SRH matrix with 1 at the given heads.
func onehot(heads int, at ...int) [][]float64 {
	row := make([]float64, heads)
	for _, h := range at {
		row[h] = 1
	}
	return [][]float64{row}
}

func TestStabilitySingleProbeIsCertain(t *testing.T) {
	srh := [][][]float64{{{0.5, 3, 0, 2, 1, 0.25}, {1, 1, 1, 1, 1, 1}}}
	ranking := Rank(srh[0])
	st := Stability(srh, ranking, 2, 6)
	// Every resample of one probe is that probe: its top-4 with certainty.
	want := [][]float64{{1, 1, 0, 1, 1, 0}, {1, 1, 1, 1, 0, 0}}
	if !reflect.DeepEqual(st.TopKProbability, want) {
		t.Errorf("probability %v, want %v", st.TopKProbability, want)
	}
	if !reflect.DeepEqual(st.TopKJaccard, []float64{1, 1}) {
		t.Errorf("jaccard %v, want [1 1]", st.TopKJaccard)
	}
	if st.Method != "bootstrap" || st.Resamples != StabilityResamples || st.TopK != 4 || st.Probes != 1 || st.Seed != StabilitySeed {
		t.Errorf("settings %+v", st)
	}
}

// Two probes with disjoint top-4 sets, 8 heads: a resample holds probe A
// twice (top {0..3}), A and B (all tie at 1: top {0..3} by lower index), or
// B twice (top {4..7}), with chances 1/4, 1/2, 1/4. The mean's ranking
// (all tied) has top {0..3}. So head 0 is in with chance 3/4, head 4 with
// 1/4, and the Jaccard is 1 exactly when head 0 is in, 0 otherwise.
func TestStabilityDisjointProbes(t *testing.T) {
	srh := [][][]float64{onehot(8, 0, 1, 2, 3), onehot(8, 4, 5, 6, 7)}
	mean := Mean(1, 8, []ProbeScores{{SRH: srh[0], Retrieval: srh[0]}, {SRH: srh[1], Retrieval: srh[1]}})
	st := Stability(srh, Rank(mean.SRH), 1, 8)
	p := st.TopKProbability[0]
	for h := 1; h < 8; h++ {
		group := p[0]
		if h >= 4 {
			group = p[4]
		}
		if p[h] != group {
			t.Errorf("head %d probability %v differs from its group's %v", h, p[h], group)
		}
	}
	if p[0]+p[4] != 1 {
		t.Errorf("head 0 (%v) and head 4 (%v) should be exclusive and exhaustive", p[0], p[4])
	}
	if st.TopKJaccard[0] != p[0] {
		t.Errorf("jaccard %v, want head 0's probability %v", st.TopKJaccard[0], p[0])
	}
	// 200 draws of a Bernoulli(3/4): standard error 0.031; 4 sigma.
	if math.Abs(p[0]-0.75) > 0.125 {
		t.Errorf("head 0 probability %v, want about 0.75", p[0])
	}
}

func TestStabilityDominantHeadAndDeterminism(t *testing.T) {
	// Head 5 leads every probe, heads 0 and 1 never reach the top 4.
	srh := [][][]float64{
		{{0, 0, 1, 2, 3, 9}}, {{0.5, 0, 3, 1, 2, 8}}, {{0, 0.5, 2, 3, 1, 7}}, {{0.25, 0.25, 1, 1, 1, 6}},
	}
	probes := make([]ProbeScores, len(srh))
	for i, m := range srh {
		probes[i] = ProbeScores{SRH: m, Retrieval: m}
	}
	ranking := Rank(Mean(1, 6, probes).SRH)
	st := Stability(srh, ranking, 1, 6)
	p := st.TopKProbability[0]
	if p[5] != 1 || p[0] != 0 || p[1] != 0 {
		t.Errorf("probability %v: want head 5 always in, heads 0 and 1 never", p)
	}
	sum := 0.0
	for _, x := range p {
		sum += x
	}
	if math.Abs(sum-4) > 1e-12 {
		t.Errorf("probabilities add up to %v, want 4", sum)
	}
	again := Stability(srh, ranking, 1, 6)
	if !reflect.DeepEqual(st, again) {
		t.Error("two bootstraps of the same probes differ")
	}
	if Stability(nil, nil, 1, 6) != nil {
		t.Error("no probes: want nil")
	}
}

func TestStabilityFewHeads(t *testing.T) {
	// 3 heads: the top set is all but the last, top-2. Probe A ranks heads
	// 2, 0; probe B heads 1, 2: the mean (0.5, 1.5, 1.5) has top {1, 2}.
	srh := [][][]float64{{{1, 0, 2}}, {{0, 3, 1}}}
	st := Stability(srh, [][]int{{1, 2, 0}}, 1, 3)
	if st.TopK != 2 {
		t.Fatalf("top_k %d, want 2", st.TopK)
	}
	p := st.TopKProbability[0]
	if p[2] != 1 || p[0]+p[1] != 1 || st.TopKJaccard[0] == 1 {
		t.Errorf("got %+v: head 2 is in every resample's top 2, heads 0 and 1 share the other place", st)
	}
	one := Stability([][][]float64{{{5}}}, [][]int{{0}}, 1, 1)
	if one.TopK != 1 || one.TopKProbability[0][0] != 1 || one.TopKJaccard[0] != 1 {
		t.Errorf("one head: %+v", one)
	}
}
