package calibrate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Allocate splits a total budget of avg*L tokens over the L layers in
// proportion to their layer scores, exactly as the CompressKV reference's
// error_aware_layer_budget_allocation does (docs/METHOD.md, section 4):
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
	descending := layerOrder(scores, true)
	ascending := layerOrder(scores, false)
	for diff := total - sum; diff != 0; {
		moved := false
		if diff > 0 {
			for _, l := range descending {
				if diff == 0 {
					break
				}
				if budgets[l] < ceiling {
					budgets[l]++
					diff--
					moved = true
				}
			}
		} else {
			for _, l := range ascending {
				if diff == 0 {
					break
				}
				if budgets[l] > floor {
					budgets[l]--
					diff++
					moved = true
				}
			}
		}
		if !moved {
			break
		}
	}
	return budgets
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

// CheckAllocation reports the settings for which Allocate cannot hit the
// total avg*layers exactly.
func CheckAllocation(avg, floor, ceilingFactor int) error {
	switch {
	case avg < 1:
		return fmt.Errorf("average budget %d: want at least 1", avg)
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
