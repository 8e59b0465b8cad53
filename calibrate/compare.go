package calibrate

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/compresskv/compresskv/profile/schema"
)

// LayerDiff compares one layer of two profiles.
type LayerDiff struct {
	Layer   int     `json:"layer"`
	HeadsA  []int   `json:"heads_a"` // top-k heads of A's ranking
	HeadsB  []int   `json:"heads_b"` // top-k heads of B's ranking
	Overlap int     `json:"overlap"` // heads in both top-k sets
	Jaccard float64 `json:"jaccard"` // overlap / size of the union of the top-k sets (1: the same heads)
	// KendallTau is Kendall's tau-b between the two layers' SRH scores over
	// all query heads: 1 for the same order, -1 for the reverse; equal
	// scores count as ties, not as the ranking's index tie-break. Nil when
	// undefined (a layer whose scores are all equal in either profile, or
	// the shapes differ).
	KendallTau   *float64 `json:"kendall_tau"`
	ScoreA       float64  `json:"score_a"` // layer score in A (0 when A is not calibrated)
	ScoreB       float64  `json:"score_b"`
	BudgetChange int      `json:"budget_change"` // largest |budget_A - budget_B| over the averages both hold
}

// Comparison is what `compresskv diff` and `calibrate --check` report.
type Comparison struct {
	TopK int `json:"top_k"`
	// ScoringA and ScoringB are the profiles' probes.scoring; when they
	// differ (greedy vs teacher-forced, a normalised SRH, an imported file)
	// the scores measure different things and ScoringMismatch is set.
	ScoringA        string      `json:"scoring_a"`
	ScoringB        string      `json:"scoring_b"`
	ScoringMismatch bool        `json:"scoring_mismatch"`
	Layers          []LayerDiff `json:"layers"`
	MeanJaccard     float64     `json:"mean_jaccard"`      // over layers
	MeanKendallTau  *float64    `json:"mean_kendall_tau"`  // over the layers where it is defined; nil when none
	ScoreL1         float64     `json:"score_l1"`          // sum over layers of |score_A - score_B|
	MaxBudgetChange int         `json:"max_budget_change"` // largest BudgetChange
	Averages        []int       `json:"averages"`          // average budgets both profiles hold, ascending
	Notes           []string    `json:"notes"`             // differences that are not per layer (shape, missing calibration, averages held by one only)
}

// Tolerance bounds how far two profiles may differ and still count as the
// same.
type Tolerance struct {
	ScoreL1      float64 // largest allowed layer-score L1 distance
	BudgetChange int     // largest allowed per-layer budget change, in tokens
	HeadMisses   int     // top-k heads per layer allowed to be missing from the other profile
}

// Compare compares profile a with b: per layer, the overlap of the top-k
// heads of their rankings (k from a's calibration, else topK), the layer
// scores and the largest budget change over the average budgets both hold.
func Compare(a, b *schema.Profile, topK int) Comparison {
	if a.Calibration != nil && a.Calibration.TopK > 0 {
		topK = a.Calibration.TopK
	}
	c := Comparison{TopK: topK, ScoringA: a.Probes.Scoring, ScoringB: b.Probes.Scoring, ScoringMismatch: a.Probes.Scoring != b.Probes.Scoring}
	if a.Model.Layers != b.Model.Layers || a.Model.Heads != b.Model.Heads || a.Model.KVHeads != b.Model.KVHeads {
		c.Notes = append(c.Notes, fmt.Sprintf("model shapes differ: %d layers x %d heads (%d KV) vs %d x %d (%d KV)",
			a.Model.Layers, a.Model.Heads, a.Model.KVHeads, b.Model.Layers, b.Model.Heads, b.Model.KVHeads))
	}
	if a.Model.Fingerprint != b.Model.Fingerprint {
		c.Notes = append(c.Notes, fmt.Sprintf("model fingerprints differ: %s vs %s", a.Model.Fingerprint, b.Model.Fingerprint))
	}
	layers := max(len(a.Heads.Ranking), len(b.Heads.Ranking))
	var ca, cb schema.Calibration
	switch {
	case a.Calibration == nil && b.Calibration == nil:
	case a.Calibration == nil:
		c.Notes = append(c.Notes, "only the second profile is calibrated")
	case b.Calibration == nil:
		c.Notes = append(c.Notes, "only the first profile is calibrated")
	}
	if a.Calibration != nil {
		ca = *a.Calibration
		layers = max(layers, len(ca.LayerScores))
	}
	if b.Calibration != nil {
		cb = *b.Calibration
		layers = max(layers, len(cb.LayerScores))
	}
	var onlyOne []string // map order is random: sorted below
	for key := range ca.Budgets {
		if _, ok := cb.Budgets[key]; ok {
			if avg, err := strconv.Atoi(key); err == nil {
				c.Averages = append(c.Averages, avg)
			}
		} else {
			onlyOne = append(onlyOne, fmt.Sprintf("average budget %s only in the first profile", key))
		}
	}
	for key := range cb.Budgets {
		if _, ok := ca.Budgets[key]; !ok {
			onlyOne = append(onlyOne, fmt.Sprintf("average budget %s only in the second profile", key))
		}
	}
	slices.Sort(c.Averages)
	slices.Sort(onlyOne)
	c.Notes = append(c.Notes, onlyOne...)
	for l := 0; l < layers; l++ {
		d := LayerDiff{Layer: l, HeadsA: topHeads(a.Heads.Ranking, l, topK), HeadsB: topHeads(b.Heads.Ranking, l, topK)}
		for _, h := range d.HeadsA {
			if slices.Contains(d.HeadsB, h) {
				d.Overlap++
			}
		}
		if union := len(d.HeadsA) + len(d.HeadsB) - d.Overlap; union > 0 {
			d.Jaccard = float64(d.Overlap) / float64(union)
		}
		if l < len(a.Heads.SRH) && l < len(b.Heads.SRH) {
			if tau, ok := KendallTauB(a.Heads.SRH[l], b.Heads.SRH[l]); ok {
				d.KendallTau = &tau
			}
		}
		d.ScoreA, d.ScoreB = at(ca.LayerScores, l), at(cb.LayerScores, l)
		c.ScoreL1 += math.Abs(d.ScoreA - d.ScoreB)
		for _, avg := range c.Averages {
			key := strconv.Itoa(avg)
			change := atInt(ca.Budgets[key], l) - atInt(cb.Budgets[key], l)
			d.BudgetChange = max(d.BudgetChange, change, -change)
		}
		c.MaxBudgetChange = max(c.MaxBudgetChange, d.BudgetChange)
		c.Layers = append(c.Layers, d)
	}
	taus, tauSum := 0, 0.0
	for _, d := range c.Layers {
		c.MeanJaccard += d.Jaccard / float64(len(c.Layers))
		if d.KendallTau != nil {
			taus++
			tauSum += *d.KendallTau
		}
	}
	if taus > 0 {
		mean := tauSum / float64(taus)
		c.MeanKendallTau = &mean
	}
	return c
}

// KendallTauB is Kendall's rank correlation tau-b of x and y, which must
// have the same length: (concordant - discordant) pairs over
// sqrt((pairs - ties in x) (pairs - ties in y)). ok is false when it is
// undefined (lengths differ, fewer than two entries, or all of x or all
// of y equal). O(n^2), for head counts.
func KendallTauB(x, y []float64) (tau float64, ok bool) {
	n := len(x)
	if n != len(y) || n < 2 {
		return 0, false
	}
	var concordant, discordant, tiesX, tiesY int
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			dx, dy := cmpFloat(x[i], x[j]), cmpFloat(y[i], y[j])
			if dx == 0 {
				tiesX++
			}
			if dy == 0 {
				tiesY++
			}
			switch {
			case dx*dy > 0:
				concordant++
			case dx*dy < 0:
				discordant++
			}
		}
	}
	pairs := n * (n - 1) / 2
	den := math.Sqrt(float64(pairs-tiesX) * float64(pairs-tiesY))
	if den == 0 {
		return 0, false
	}
	return float64(concordant-discordant) / den, true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func topHeads(ranking [][]int, layer, k int) []int {
	if layer >= len(ranking) {
		return nil
	}
	r := ranking[layer]
	return r[:min(k, len(r))]
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

func atInt(v []int, i int) int {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// Drift lists, layer by layer, where c exceeds t, plus the profile-wide
// differences; empty when the profiles agree within t.
func (c Comparison) Drift(t Tolerance) []string {
	var out []string
	out = append(out, c.Notes...)
	for _, d := range c.Layers {
		k := max(len(d.HeadsA), len(d.HeadsB))
		if k-d.Overlap > t.HeadMisses {
			out = append(out, fmt.Sprintf("layer %d: top-%d heads overlap %d/%d (%v vs %v)", d.Layer, c.TopK, d.Overlap, k, d.HeadsA, d.HeadsB))
		}
		if d.BudgetChange > t.BudgetChange {
			out = append(out, fmt.Sprintf("layer %d: budget changes by up to %d tokens (tolerance %d)", d.Layer, d.BudgetChange, t.BudgetChange))
		}
	}
	if c.ScoreL1 > t.ScoreL1 {
		out = append(out, fmt.Sprintf("layer scores differ by %.6g in L1 (tolerance %g)%s", c.ScoreL1, t.ScoreL1, c.worstScoreLayers()))
	}
	return out
}

// worstScoreLayers names the layers whose score moved most.
func (c Comparison) worstScoreLayers() string {
	type moved struct {
		layer int
		by    float64
	}
	var ms []moved
	for _, d := range c.Layers {
		if by := math.Abs(d.ScoreA - d.ScoreB); by > 0 {
			ms = append(ms, moved{d.Layer, by})
		}
	}
	slices.SortStableFunc(ms, func(x, y moved) int {
		switch {
		case x.by > y.by:
			return -1
		case x.by < y.by:
			return 1
		}
		return 0
	})
	if len(ms) == 0 {
		return ""
	}
	s := "; most changed: "
	for i, m := range ms[:min(3, len(ms))] {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("layer %d (by %.4g)", m.layer, m.by)
	}
	return s
}
