package calibrate

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/compresskv/compresskv/profile/schema"
)

// Allocate splits a total budget of avg*L tokens over the L layers in
// proportion to their layer scores, exactly as the CompressKV reference's
// error_aware_layer_budget_allocation does (docs/method.md, section 6):
//
//	T = avg*L, m = floor, M = ceilingFactor*avg
//	b_l = clip(m + round(score_l * (T - m*L)), m, M)
//
// where round is numpy's round half to even (math.RoundToEven), then the sum
// is repaired to exactly T in passes: while short, each pass walks the
// layers still below M in descending score order and adds 1 to each until
// the sum is T; while over, each pass walks the layers still above m in
// ascending score order and removes 1. Equal scores go in ascending layer
// order (numpy's argsort leaves them unspecified).
//
// When no layer can move any more the repair stops, as the reference's does:
// with avg < floor every layer gets floor and the sum exceeds T; with
// ceilingFactor*avg < floor the clip yields M everywhere (numpy's clip with
// min > max). Callers that need an exact total should use CheckAllocation
// first.
//
// The repair is computed in O(L log L), not pass by pass (an average of 1e9
// tokens would otherwise take 1e9 passes): k full passes add min(cap_l, k)
// to a layer with room cap_l, so the number of full passes is the largest k
// whose total fits the difference, and the remainder goes, one each, to the
// first layers in pass order that still have room.
func Allocate(scores []float64, avg int, floor int, ceilingFactor int) []int {
	layers := len(scores)
	total := avg * layers
	ceiling := ceilingFactor * avg
	remaining := float64(total - floor*layers)
	budgets := make([]int, layers)
	sum := 0
	for l, s := range scores {
		b := float64(floor) + math.RoundToEven(s*remaining)
		b = math.Min(math.Max(b, float64(floor)), float64(ceiling))
		budgets[l] = int(b)
		sum += budgets[l]
	}
	diff := total - sum
	if diff == 0 {
		return budgets
	}
	// room[l] is how far layer l can move: up to the ceiling when short,
	// down to the floor when over.
	order := layerOrder(scores, diff > 0)
	step, need := 1, diff
	if diff < 0 {
		step, need = -1, -diff
	}
	room := make([]int, layers)
	for l, b := range budgets {
		if diff > 0 {
			room[l] = max(ceiling-b, 0)
		} else {
			room[l] = max(b-floor, 0)
		}
	}
	passes := fullPasses(room, need)
	moved := 0
	for l := range budgets {
		n := min(room[l], passes)
		budgets[l] += step * n
		moved += n
	}
	// The last, partial pass: one more token each, in pass order, to the
	// layers with room left, until the difference is made up.
	for _, l := range order {
		if moved == need {
			break
		}
		if room[l] > passes {
			budgets[l] += step
			moved++
		}
	}
	return budgets
}

// fullPasses returns the largest k such that sum_l min(room[l], k) <= need,
// capped at the largest room (beyond it no pass moves anything).
func fullPasses(room []int, need int) int {
	sorted := slices.Clone(room)
	slices.Sort(sorted)
	// With k between sorted[i-1] and sorted[i], the layers below i are
	// full and the len-i others move k each.
	filled := 0 // sum of sorted[:i]
	prev := 0
	for i, r := range sorted {
		active := len(sorted) - i
		if r > prev {
			// Does the segment (prev, r] reach past need?
			if filled+r*active > need {
				return (need - filled) / active
			}
			prev = r
		}
		filled += r
	}
	return prev
}

// layerOrder returns the layer indices sorted by score (descending or
// ascending), equal scores by ascending layer index.
func layerOrder(scores []float64, descending bool) []int {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if descending {
			return cmp.Compare(scores[b], scores[a])
		}
		return cmp.Compare(scores[a], scores[b])
	})
	return order
}

// MaxAverage and MaxCeilingFactor bound the averages and ceiling factors
// Allocate takes: the same bounds a profile's calibration must keep, far
// beyond any context length, and small enough that avg*layers and
// ceilingFactor*avg cannot overflow.
const (
	MaxAverage       = schema.MaxAverage
	MaxCeilingFactor = schema.MaxCeiling
)

// CheckAllocation reports the settings for which Allocate cannot hit the
// total avg*layers exactly, or which are beyond MaxAverage and
// MaxCeilingFactor.
func CheckAllocation(avg, floor, ceilingFactor int) error {
	switch {
	case avg < 1:
		return fmt.Errorf("average budget %d: want at least 1", avg)
	case avg > MaxAverage:
		return fmt.Errorf("average budget %d: want at most %d tokens per layer", avg, int64(MaxAverage))
	case floor > MaxAverage:
		return fmt.Errorf("budget floor %d: want at most %d tokens per layer", floor, int64(MaxAverage))
	case ceilingFactor > MaxCeilingFactor:
		return fmt.Errorf("ceiling factor %d: want at most %d", ceilingFactor, MaxCeilingFactor)
	case floor < 0:
		return fmt.Errorf("budget floor %d: want at least 0", floor)
	case avg < floor:
		return fmt.Errorf("average budget %d is below the per-layer floor %d: every layer would get the floor", avg, floor)
	case ceilingFactor < 1:
		return fmt.Errorf("ceiling factor %d: want at least 1 (the ceiling %d*avg must reach the average)", ceilingFactor, ceilingFactor)
	}
	return nil
}

// Normalize divides v by its sum (L1 normalisation; the entries are errors,
// never negative). It fails when the sum is zero or not finite, which
// happens when no prompt was longer than the calibration budget (nothing was
// evicted, so no layer erred).
func Normalize(v []float64) ([]float64, error) {
	var sum float64
	for i, x := range v {
		if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("layer %d: error %v: want a finite value >= 0", i, x)
		}
		sum += x
	}
	if sum == 0 {
		return nil, fmt.Errorf("all %d layer errors are zero (were the prompts longer than the calibration budget?)", len(v))
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / sum
	}
	return out, nil
}

// LayerScores turns per-dataset layer errors ([datasets][layers]) into the
// layer score: each dataset's errors are L1-normalised, the normalised
// vectors are averaged across datasets, and the average is normalised again
// (so it sums to 1 up to rounding). It also returns each dataset's
// normalised vector.
func LayerScores(errors [][]float64) (scores []float64, perDataset [][]float64, err error) {
	if len(errors) == 0 {
		return nil, nil, fmt.Errorf("no calibration datasets")
	}
	layers := len(errors[0])
	mean := make([]float64, layers)
	for d, e := range errors {
		if len(e) != layers {
			return nil, nil, fmt.Errorf("dataset %d: %d layer errors, want %d", d, len(e), layers)
		}
		norm, err := Normalize(e)
		if err != nil {
			return nil, nil, fmt.Errorf("dataset %d: %w", d, err)
		}
		perDataset = append(perDataset, norm)
		for l, x := range norm {
			mean[l] += x
		}
	}
	for l := range mean {
		mean[l] /= float64(len(errors))
	}
	scores, err = Normalize(mean)
	if err != nil {
		return nil, nil, err
	}
	return scores, perDataset, nil
}
