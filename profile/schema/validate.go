package schema

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// sumTolerance is how far a vector that should sum to 1 may miss it
// (float64 rounding over a few hundred layers stays far below this).
const sumTolerance = 1e-6

// Bounds on the model shape and the calibration settings a profile may
// claim. They are far above any released checkpoint (Llama 3.1 405B has 126
// layers of 128 heads of 128 dimensions) and far below what would make a
// reader allocate or loop without end, or make avg*layers overflow.
const (
	MaxLayers     = 4096
	MaxHeads      = 4096
	MaxHeadDim    = 1 << 16
	MaxAverage    = 1 << 32 // largest average budget (tokens per layer)
	MaxCeiling    = 1 << 16 // largest ceiling factor
	MaxSelections = 1 << 32 // largest calibration budget, window or kernel
)

// Validate checks that p is internally consistent: the model shape is
// positive and GQA-compatible, every score matrix is layers x heads with
// finite values, every ranking is a permutation of 0..heads-1 ordered by its
// scores (descending, ties by lower head index), the probe counts agree with
// the results, and, when calibration is present, the layer scores have one
// entry per layer and sum to 1 and every budget vector sums to avg*layers
// within [floor, ceiling]. The first problem found is returned.
func Validate(p *Profile) error {
	if p == nil {
		return fmt.Errorf("profile: nil")
	}
	if p.Schema != Version {
		return fmt.Errorf("profile: schema %q is not %s", p.Schema, Version)
	}
	m := p.Model
	if m.Layers <= 0 || m.Heads <= 0 || m.KVHeads <= 0 || m.HeadDim <= 0 {
		return fmt.Errorf("profile: model: layers %d, heads %d, kv_heads %d, head_dim %d: all must be positive",
			m.Layers, m.Heads, m.KVHeads, m.HeadDim)
	}
	if m.Layers > MaxLayers || m.Heads > MaxHeads || m.KVHeads > MaxHeads || m.HeadDim > MaxHeadDim {
		return fmt.Errorf("profile: model: layers %d, heads %d, kv_heads %d, head_dim %d: implausibly large (limits %d, %d, %d, %d)",
			m.Layers, m.Heads, m.KVHeads, m.HeadDim, MaxLayers, MaxHeads, MaxHeads, MaxHeadDim)
	}
	if m.Heads%m.KVHeads != 0 {
		return fmt.Errorf("profile: model: heads %d is not a multiple of kv_heads %d", m.Heads, m.KVHeads)
	}
	if err := validateProbes(&p.Probes); err != nil {
		return err
	}
	h := &p.Heads
	for _, mat := range []struct {
		name string
		v    [][]float64
	}{{"heads.srh", h.SRH}, {"heads.retrieval", h.Retrieval}} {
		if err := checkMatrix(mat.name, mat.v, m.Layers, m.Heads); err != nil {
			return err
		}
	}
	if err := checkRanking("heads.ranking", h.Ranking, h.SRH, m.Layers, m.Heads); err != nil {
		return err
	}
	if err := checkRanking("heads.retrieval_ranking", h.RetrievalRanking, h.Retrieval, m.Layers, m.Heads); err != nil {
		return err
	}
	if h.KV != nil {
		if err := checkKVView(h.KV, h.SRH, m.KVHeads); err != nil {
			return err
		}
	}
	if h.Stability != nil {
		if err := validateStability(h.Stability, p.Probes.Successful, m.Layers, m.Heads); err != nil {
			return err
		}
	}
	if p.Calibration != nil {
		if err := validateCalibration(p.Calibration, m.Layers, m.Heads); err != nil {
			return err
		}
	}
	return nil
}

func validateProbes(pi *ProbeInfo) error {
	if err := checkRope("probes.rope", pi.Rope); err != nil {
		return err
	}
	if err := checkCompute("probes.compute", pi.Compute); err != nil {
		return err
	}
	if err := checkFinite("probes.success_recall", pi.SuccessRecall); err != nil {
		return err
	}
	if err := checkCompat("probes.compat", pi.Compat); err != nil {
		return err
	}
	for i, d := range pi.Depths {
		if err := checkFinite(fmt.Sprintf("probes.depths[%d]", i), d); err != nil {
			return err
		}
	}
	if pi.UntilStable != nil {
		if err := validateUntilStable(pi.UntilStable); err != nil {
			return err
		}
	}
	if pi.Run != len(pi.Results) {
		return fmt.Errorf("profile: probes.run is %d but there are %d results", pi.Run, len(pi.Results))
	}
	successful := 0
	// Teacher forcing does not apply the recall gate (see package profile).
	teacherForced := strings.HasPrefix(pi.Scoring, "teacher-forced")
	for i, r := range pi.Results {
		if i > 0 && r.Index <= pi.Results[i-1].Index {
			return fmt.Errorf("profile: probes.results[%d]: index %d does not follow %d (results must be in increasing index order)",
				i, r.Index, pi.Results[i-1].Index)
		}
		if err := checkFinite(fmt.Sprintf("probes.results[%d].recall", i), r.Recall); err != nil {
			return err
		}
		if err := checkFinite(fmt.Sprintf("probes.results[%d].depth", i), r.Depth); err != nil {
			return err
		}
		if teacherForced && !r.Success {
			return fmt.Errorf("profile: probes.results[%d] (index %d): not counted, but teacher-forced scoring counts every probe", i, r.Index)
		}
		if !teacherForced && r.Success != (r.Recall > pi.SuccessRecall) {
			return fmt.Errorf("profile: probes.results[%d] (index %d): success %v but recall %v against threshold %v",
				i, r.Index, r.Success, r.Recall, pi.SuccessRecall)
		}
		if r.Success {
			successful++
		}
	}
	if pi.Successful != successful {
		return fmt.Errorf("profile: probes.successful is %d but %d results succeeded", pi.Successful, successful)
	}
	skipped := 0
	for reason, n := range pi.SkipReasons {
		if n < 0 {
			return fmt.Errorf("profile: probes.skip_reasons[%q] is negative (%d)", reason, n)
		}
		skipped += n
	}
	if pi.Skipped != skipped {
		return fmt.Errorf("profile: probes.skipped is %d but skip_reasons add up to %d", pi.Skipped, skipped)
	}
	return nil
}

// validateStability checks the bootstrap block against the model shape
// and the probe counts: every layer's membership probabilities lie in
// [0, 1] and add up to top_k (each resample has exactly top_k members).
func validateStability(st *Stability, successful, layers, heads int) error {
	if st.Method != "bootstrap" {
		return fmt.Errorf("profile: heads.stability.method %q, want \"bootstrap\"", st.Method)
	}
	if st.Resamples < 1 {
		return fmt.Errorf("profile: heads.stability.resamples is %d, want at least 1", st.Resamples)
	}
	if st.TopK < 1 || st.TopK > heads {
		return fmt.Errorf("profile: heads.stability.top_k is %d, want 1..%d", st.TopK, heads)
	}
	if st.Probes != successful {
		return fmt.Errorf("profile: heads.stability.probes is %d but %d probes succeeded", st.Probes, successful)
	}
	if err := checkMatrix("heads.stability.top_k_probability", st.TopKProbability, layers, heads); err != nil {
		return err
	}
	if len(st.TopKJaccard) != layers {
		return fmt.Errorf("profile: heads.stability.top_k_jaccard has %d entries, model has %d layers", len(st.TopKJaccard), layers)
	}
	for l, row := range st.TopKProbability {
		sum := 0.0
		for h, p := range row {
			if p < 0 || p > 1 {
				return fmt.Errorf("profile: heads.stability.top_k_probability[%d][%d] is %v, want 0..1", l, h, p)
			}
			sum += p
		}
		if math.Abs(sum-float64(st.TopK)) > sumTolerance*float64(heads) {
			return fmt.Errorf("profile: heads.stability.top_k_probability[%d] adds up to %v, want top_k = %d", l, sum, st.TopK)
		}
		j := st.TopKJaccard[l]
		if err := checkFinite(fmt.Sprintf("heads.stability.top_k_jaccard[%d]", l), j); err != nil {
			return err
		}
		if j < 0 || j > 1 {
			return fmt.Errorf("profile: heads.stability.top_k_jaccard[%d] is %v, want 0..1", l, j)
		}
	}
	return nil
}

// validateUntilStable checks the early-stop settings.
func validateUntilStable(u *UntilStable) error {
	if err := checkFinite("probes.until_stable.jaccard", u.Jaccard); err != nil {
		return err
	}
	if u.Jaccard <= 0 || u.Jaccard > 1 {
		return fmt.Errorf("profile: probes.until_stable.jaccard is %v, want (0, 1]", u.Jaccard)
	}
	if u.Window < 1 {
		return fmt.Errorf("profile: probes.until_stable.window is %d, want at least 1", u.Window)
	}
	if u.Order != "spread" {
		return fmt.Errorf("profile: probes.until_stable.order %q, want \"spread\"", u.Order)
	}
	return nil
}

func checkFinite(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("profile: %s is %v, want a finite number", name, v)
	}
	return nil
}

// checkMatrix checks a [layers][heads] matrix of finite values.
func checkMatrix(name string, v [][]float64, layers, heads int) error {
	if len(v) != layers {
		return fmt.Errorf("profile: %s has %d layers, model has %d", name, len(v), layers)
	}
	for l, row := range v {
		if len(row) != heads {
			return fmt.Errorf("profile: %s[%d] has %d heads, model has %d", name, l, len(row), heads)
		}
		for h, x := range row {
			if err := checkFinite(fmt.Sprintf("%s[%d][%d]", name, l, h), x); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRanking checks that every row of rank is a permutation of 0..heads-1
// ordered by score descending, equal scores by lower head index.
func checkRanking(name string, rank [][]int, score [][]float64, layers, heads int) error {
	if len(rank) != layers {
		return fmt.Errorf("profile: %s has %d layers, model has %d", name, len(rank), layers)
	}
	for l, row := range rank {
		if len(row) != heads {
			return fmt.Errorf("profile: %s[%d] has %d heads, model has %d", name, l, len(row), heads)
		}
		seen := make([]bool, heads)
		for _, h := range row {
			if h < 0 || h >= heads || seen[h] {
				return fmt.Errorf("profile: %s[%d] = %v is not a permutation of 0..%d", name, l, row, heads-1)
			}
			seen[h] = true
		}
		for k := 1; k < heads; k++ {
			a, b := row[k-1], row[k]
			sa, sb := score[l][a], score[l][b]
			if sa < sb || (sa == sb && a > b) {
				return fmt.Errorf("profile: %s[%d]: head %d (score %v) ranked before head %d (score %v); want score descending, ties by lower head",
					name, l, a, sa, b, sb)
			}
		}
	}
	return nil
}

// validateSettings checks the calibration settings against the ranges
// `compresskv calibrate` accepts.
// checkCompute accepts a recorded compute mode: "f32", "bf16", or absent
// (files written before the field existed computed in f32).
func checkCompute(field, v string) error {
	if v != "" && v != "f32" && v != "bf16" {
		return fmt.Errorf("profile: %s is %q, want \"f32\" or \"bf16\"", field, v)
	}
	return nil
}

func validateSettings(c *Calibration, heads int) error {
	if err := checkCompute("calibration.compute", c.Compute); err != nil {
		return err
	}
	switch {
	case c.TopK < 1 || c.TopK > heads:
		return fmt.Errorf("profile: calibration.top_k is %d, want 1..%d (the model's heads per layer)", c.TopK, heads)
	case c.Window < 1 || c.Window > MaxSelections:
		return fmt.Errorf("profile: calibration.window is %d, want 1..%d", c.Window, int64(MaxSelections))
	case c.Budget <= c.Window || c.Budget > MaxSelections:
		return fmt.Errorf("profile: calibration.budget is %d, want more than the window %d and at most %d", c.Budget, c.Window, int64(MaxSelections))
	case c.Kernel < 1 || c.Kernel%2 == 0 || c.Kernel > MaxSelections:
		return fmt.Errorf("profile: calibration.kernel is %d, want an odd number 1..%d", c.Kernel, int64(MaxSelections))
	case c.Pooling != "avg" && c.Pooling != "max":
		return fmt.Errorf("profile: calibration.pooling is %q, want \"avg\" or \"max\"", c.Pooling)
	case c.Floor < 0 || c.Floor > MaxAverage:
		return fmt.Errorf("profile: calibration.floor is %d, want 0..%d", c.Floor, int64(MaxAverage))
	case c.CeilingFactor < 1 || c.CeilingFactor > MaxCeiling:
		return fmt.Errorf("profile: calibration.ceiling_factor is %d, want 1..%d", c.CeilingFactor, MaxCeiling)
	}
	return nil
}

func validateCalibration(c *Calibration, layers, heads int) error {
	if err := validateSettings(c, heads); err != nil {
		return err
	}
	if err := checkRope("calibration.rope", c.Rope); err != nil {
		return err
	}
	if err := checkCompat("calibration.compat", c.Compat); err != nil {
		return err
	}
	if len(c.LayerScores) != layers {
		return fmt.Errorf("profile: calibration.layer_scores has %d entries, model has %d layers", len(c.LayerScores), layers)
	}
	if err := checkDistribution("calibration.layer_scores", c.LayerScores); err != nil {
		return err
	}
	for i, d := range c.Datasets {
		name := fmt.Sprintf("calibration.datasets[%d] (%s)", i, d.Name)
		if len(d.LayerErrors) != layers || len(d.LayerScores) != layers {
			return fmt.Errorf("profile: %s: %d layer errors and %d layer scores, model has %d layers",
				name, len(d.LayerErrors), len(d.LayerScores), layers)
		}
		for l, x := range d.LayerErrors {
			if err := checkFinite(fmt.Sprintf("%s.layer_errors[%d]", name, l), x); err != nil {
				return err
			}
			if x < 0 {
				return fmt.Errorf("profile: %s.layer_errors[%d] is negative (%v)", name, l, x)
			}
		}
		if err := checkDistribution(name+".layer_scores", d.LayerScores); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(c.Budgets))
	for k := range c.Budgets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		avg, err := strconv.Atoi(k)
		if err != nil || avg <= 0 || avg > MaxAverage || strconv.Itoa(avg) != k {
			return fmt.Errorf("profile: calibration.budgets key %q is not a decimal average budget in 1..%d", k, int64(MaxAverage))
		}
		b := c.Budgets[k]
		if len(b) != layers {
			return fmt.Errorf("profile: calibration.budgets[%s] has %d entries, model has %d layers", k, len(b), layers)
		}
		ceiling := c.CeilingFactor * avg
		sum := 0
		for l, x := range b {
			sum += x
			// The floor can only hold when the average budget reaches it.
			if avg >= c.Floor && x < c.Floor {
				return fmt.Errorf("profile: calibration.budgets[%s][%d] = %d is below the floor %d", k, l, x, c.Floor)
			}
			if x > ceiling {
				return fmt.Errorf("profile: calibration.budgets[%s][%d] = %d is above the ceiling %d (%d x %d)", k, l, x, ceiling, c.CeilingFactor, avg)
			}
			if x < 0 {
				return fmt.Errorf("profile: calibration.budgets[%s][%d] = %d is negative", k, l, x)
			}
		}
		if sum != avg*layers {
			return fmt.Errorf("profile: calibration.budgets[%s] sums to %d, want %d (%d x %d layers)", k, sum, avg*layers, avg, layers)
		}
	}
	for k, v := range c.Extra {
		if err := checkFinite(fmt.Sprintf("calibration.extra[%q]", k), v); err != nil {
			return err
		}
	}
	return nil
}

// checkDistribution checks a non-negative finite vector summing to 1.
func checkDistribution(name string, v []float64) error {
	sum := 0.0
	for i, x := range v {
		if err := checkFinite(fmt.Sprintf("%s[%d]", name, i), x); err != nil {
			return err
		}
		if x < 0 {
			return fmt.Errorf("profile: %s[%d] is negative (%v)", name, i, x)
		}
		sum += x
	}
	if math.Abs(sum-1) > sumTolerance {
		return fmt.Errorf("profile: %s sums to %v, want 1", name, sum)
	}
	return nil
}

// RopeArithmetics are the values of probes.rope and calibration.rope: the
// forward pass's RoPE arithmetic, Hugging Face's float32 angles ("hf") or
// float64 ones ("exact"). The field is absent in profiles written before it
// existed (their runs used float64 angles).
var RopeArithmetics = []string{"hf", "exact"}

// checkRope accepts an absent rope field or one of RopeArithmetics.
// checkCompat accepts the compatibility modes: "" (compresskv's own
// construction) and "reference".
func checkCompat(name, v string) error {
	if v != "" && v != "reference" {
		return fmt.Errorf("profile: %s is %q, want \"\" (compresskv's) or \"reference\"", name, v)
	}
	return nil
}

func checkRope(name, v string) error {
	if v == "" {
		return nil
	}
	for _, a := range RopeArithmetics {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("profile: %s is %q, want %s", name, v, strings.Join(RopeArithmetics, " or "))
}
