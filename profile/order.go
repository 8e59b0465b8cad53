package profile

import (
	"slices"

	"github.com/compresskv/compresskv/needle"
)

// prefixOrder sorts probes by their prefill ids (the prompt minus its last
// token) in lexicographic order, equal prompts by index: plan.Order's
// order. That is a depth-first walk of the trie of the prompts, so with one
// cache that keeps the longest common prefix of consecutive prompts every
// trie edge, every distinct prefix, is prefilled once: the least prefill
// any order can give with that memory (up to the few rows plan.Reusable
// may give back to keep a chunk's piece on the GEMM path). Probes of one haystack share it up to their needle; the
// sort finds whatever they share from the ids themselves.
func prefixOrder(probes []needle.Probe) {
	slices.SortStableFunc(probes, func(a, b needle.Probe) int {
		if c := slices.Compare(prefillIDs(a), prefillIDs(b)); c != 0 {
			return c
		}
		return a.Index - b.Index
	})
}

// prefillIDs returns the ids a probe prefills: all but the last, which the
// first decode step feeds.
func prefillIDs(p needle.Probe) []int { return p.IDs[:max(len(p.IDs)-1, 0)] }

// SpreadOrder returns probes in a fixed, well-spread order for a run that
// may stop early: greedy farthest-point sampling over (context length,
// depth, needle), each scaled to [0, 1]. It starts at the probe of lowest
// index and always takes next the probe farthest from every probe taken so
// far (ties by lower index), so any first n probes cover lengths, depths
// and needles about as evenly as n grid points can.
func SpreadOrder(probes []needle.Probe) []needle.Probe {
	if len(probes) == 0 {
		return nil
	}
	sorted := slices.Clone(probes)
	slices.SortStableFunc(sorted, func(a, b needle.Probe) int { return a.Index - b.Index })
	minL, maxL := sorted[0].ContextLength, sorted[0].ContextLength
	needles := map[string]int{}
	for _, p := range sorted {
		minL, maxL = min(minL, p.ContextLength), max(maxL, p.ContextLength)
		if _, ok := needles[p.NeedleID]; !ok {
			needles[p.NeedleID] = len(needles)
		}
	}
	scale := func(v, lo, hi float64) float64 {
		if hi <= lo {
			return 0
		}
		return (v - lo) / (hi - lo)
	}
	type point struct{ x, y, z float64 }
	pts := make([]point, len(sorted))
	for i, p := range sorted {
		pts[i] = point{
			scale(float64(p.ContextLength), float64(minL), float64(maxL)),
			scale(p.Depth, 0, 100),
			scale(float64(needles[p.NeedleID]), 0, float64(len(needles)-1)),
		}
	}
	dist := func(a, b point) float64 {
		dx, dy, dz := a.x-b.x, a.y-b.y, a.z-b.z
		return dx*dx + dy*dy + dz*dz
	}
	out := make([]needle.Probe, 0, len(sorted))
	taken := make([]bool, len(sorted))
	nearest := make([]float64, len(sorted)) // squared distance to the closest taken probe
	next := 0
	for range sorted {
		taken[next] = true
		out = append(out, sorted[next])
		best := -1
		for i := range sorted {
			if taken[i] {
				continue
			}
			d := dist(pts[i], pts[next])
			if len(out) == 1 || d < nearest[i] {
				nearest[i] = d
			}
			if best < 0 || nearest[i] > nearest[best] {
				best = i
			}
		}
		next = best
	}
	return out
}
