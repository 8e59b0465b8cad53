package schema

import (
	"fmt"
	"sort"
)

// KVHeads is the KV-head view of the SRH scores. GQA engines keep or evict
// cache rows per KV head, and KV head g is read by the r = heads/kv_heads
// query heads g*r .. g*r+r-1 (the Hugging Face repeat_kv order), so a
// per-KV-head decision needs an aggregate of those query heads.
type KVHeads struct {
	SRHMax  [][]float64 `json:"srh_max"`  // [layer][kv head]: largest SRH of the query heads reading it
	SRHMean [][]float64 `json:"srh_mean"` // [layer][kv head]: their mean SRH (summed in head order, divided by r)
	// Ranking orders each layer's KV heads by SRHMax descending, ties by
	// SRHMean descending, then by lower index: the KV head a retrieval
	// head reads must be kept even when its group-mates score nothing.
	Ranking [][]int `json:"ranking"`
}

// KVView computes the KV-head view of srh ([layer][query head]) for
// kvHeads KV heads per layer. The number of query heads must be a multiple
// of kvHeads.
func KVView(srh [][]float64, kvHeads int) (*KVHeads, error) {
	if kvHeads <= 0 {
		return nil, fmt.Errorf("kv view: kv_heads %d: want at least 1", kvHeads)
	}
	v := &KVHeads{
		SRHMax:  make([][]float64, len(srh)),
		SRHMean: make([][]float64, len(srh)),
		Ranking: make([][]int, len(srh)),
	}
	for l, row := range srh {
		if len(row)%kvHeads != 0 {
			return nil, fmt.Errorf("kv view: layer %d has %d query heads, not a multiple of kv_heads %d", l, len(row), kvHeads)
		}
		r := len(row) / kvHeads
		mx, mean := make([]float64, kvHeads), make([]float64, kvHeads)
		for g := range kvHeads {
			group := row[g*r : g*r+r]
			mx[g] = group[0]
			sum := 0.0
			for _, s := range group {
				mx[g] = max(mx[g], s)
				sum += s
			}
			mean[g] = sum / float64(r)
		}
		rank := make([]int, kvHeads)
		for g := range rank {
			rank[g] = g
		}
		sort.SliceStable(rank, func(i, j int) bool {
			a, b := rank[i], rank[j]
			if mx[a] != mx[b] {
				return mx[a] > mx[b]
			}
			return mean[a] > mean[b]
		})
		v.SRHMax[l], v.SRHMean[l], v.Ranking[l] = mx, mean, rank
	}
	return v, nil
}

// KVView returns the profile's KV-head view: heads.kv when present, else
// computed from heads.srh (profiles written before the view existed).
func (p *Profile) KVView() (*KVHeads, error) {
	if p.Heads.KV != nil {
		return p.Heads.KV, nil
	}
	return KVView(p.Heads.SRH, p.Model.KVHeads)
}

// checkKVView checks that a stored view is the one srh gives.
func checkKVView(got *KVHeads, srh [][]float64, kvHeads int) error {
	want, err := KVView(srh, kvHeads)
	if err != nil {
		return fmt.Errorf("profile: heads.kv: %w", err)
	}
	for _, c := range []struct {
		name      string
		got, want [][]float64
	}{{"srh_max", got.SRHMax, want.SRHMax}, {"srh_mean", got.SRHMean, want.SRHMean}} {
		if len(c.got) != len(c.want) {
			return fmt.Errorf("profile: heads.kv.%s has %d rows, want %d (one per layer)", c.name, len(c.got), len(c.want))
		}
		for l := range c.want {
			if len(c.got[l]) != len(c.want[l]) {
				return fmt.Errorf("profile: heads.kv.%s[%d] has %d entries, want %d (kv_heads)", c.name, l, len(c.got[l]), len(c.want[l]))
			}
			for g := range c.want[l] {
				if c.got[l][g] != c.want[l][g] {
					return fmt.Errorf("profile: heads.kv.%s[%d][%d] is %v, but heads.srh gives %v", c.name, l, g, c.got[l][g], c.want[l][g])
				}
			}
		}
	}
	if len(got.Ranking) != len(want.Ranking) {
		return fmt.Errorf("profile: heads.kv.ranking has %d rows, want %d (one per layer)", len(got.Ranking), len(want.Ranking))
	}
	for l := range want.Ranking {
		if fmt.Sprint(got.Ranking[l]) != fmt.Sprint(want.Ranking[l]) {
			return fmt.Errorf("profile: heads.kv.ranking[%d] is %v, but srh_max (ties: srh_mean, then lower index) gives %v", l, got.Ranking[l], want.Ranking[l])
		}
	}
	return nil
}
