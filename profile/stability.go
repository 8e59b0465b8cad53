package profile

import (
	"math/rand/v2"

	"github.com/compresskv/compresskv/profile/schema"
)

// Bootstrap settings of the ranking-stability estimate. They are fixed (and
// recorded in the profile) so that equal probes give equal bytes.
const (
	// StabilityTopK is the size of the top set compared: the CompressKV
	// selection's k (docs/method.md section 3), the part of a ranking that
	// inference consumes; H-1 for a model with at most 4 heads per layer.
	StabilityTopK = 4
	// StabilityResamples is the number of bootstrap resamples. With 200 a
	// membership probability is within about +-0.07 of its limit (two
	// binomial standard errors at p = 0.5), plenty to tell a firm head
	// from a coin flip.
	StabilityResamples = 200
	// StabilitySeed seeds the resampling generator.
	StabilitySeed uint64 = 250802401
)

// Stability bootstraps the SRH ranking: srh holds the successful probes'
// per-probe SRH matrices [probe][layers][heads], in probe index order, and
// ranking is the ranking of their mean (heads.ranking). Each resample draws
// len(srh) probes with replacement, sums their matrices in probe order and
// takes each layer's top-k heads (ties by lower head index, as Rank). The
// result holds, per layer, the fraction of resamples in which each head is
// in the top-k and the mean Jaccard index of a resample's top-k with
// ranking's. It is nil when there is no probe.
func Stability(srh [][][]float64, ranking [][]int, layers, heads int) *schema.Stability {
	return stability(srh, ranking, layers, heads, StabilityResamples)
}

func stability(srh [][][]float64, ranking [][]int, layers, heads, resamples int) *schema.Stability {
	n := len(srh)
	if n == 0 || layers <= 0 || heads <= 0 {
		return nil
	}
	// With at most k heads the top-k would be every head, trivially
	// stable: compare all but the last then (one head: that head).
	k := min(StabilityTopK, max(heads-1, 1))
	st := &schema.Stability{
		Method: "bootstrap", Resamples: resamples, Seed: StabilitySeed, TopK: k, Probes: n,
		TopKProbability: newMatrix(layers, heads),
		TopKJaccard:     make([]float64, layers),
	}
	reference := make([][]bool, layers) // [layers][heads]: in ranking's top-k
	for l := range reference {
		reference[l] = make([]bool, heads)
		for _, h := range ranking[l][:k] {
			reference[l][h] = true
		}
	}
	rng := rand.New(rand.NewPCG(StabilitySeed, uint64(n)))
	counts := make([]int, n)
	sums := newMatrix(layers, heads)
	member := make([][]int, layers) // [layers][heads]: resamples with the head in the top-k
	jaccard := make([]float64, layers)
	for l := range member {
		member[l] = make([]int, heads)
	}
	chosen := make([]bool, heads)
	for range resamples {
		clear(counts)
		for range n {
			counts[rng.IntN(n)]++
		}
		for l := range sums {
			clear(sums[l])
		}
		for i, c := range counts {
			if c == 0 {
				continue
			}
			w := float64(c)
			for l, row := range srh[i] {
				for h, x := range row {
					sums[l][h] += w * x
				}
			}
		}
		for l, row := range sums {
			topK(chosen, row, k)
			shared := 0
			for h, in := range chosen {
				if in {
					member[l][h]++
					if reference[l][h] {
						shared++
					}
				}
			}
			jaccard[l] += float64(shared) / float64(2*k-shared)
		}
	}
	for l := range member {
		for h, c := range member[l] {
			st.TopKProbability[l][h] = float64(c) / float64(resamples)
		}
		st.TopKJaccard[l] = jaccard[l] / float64(resamples)
	}
	return st
}

// topK marks in chosen the k largest entries of row, equal values by lower
// index: the first k of Rank's order.
func topK(chosen []bool, row []float64, k int) {
	clear(chosen)
	for range k {
		best := -1
		for h, x := range row {
			if !chosen[h] && (best < 0 || x > row[best]) {
				best = h
			}
		}
		chosen[best] = true
	}
}

// MinJaccard returns the smallest per-layer top-k Jaccard of st (0 for nil).
func MinJaccard(st *schema.Stability) float64 {
	if st == nil || len(st.TopKJaccard) == 0 {
		return 0
	}
	m := st.TopKJaccard[0]
	for _, j := range st.TopKJaccard[1:] {
		m = min(m, j)
	}
	return m
}
