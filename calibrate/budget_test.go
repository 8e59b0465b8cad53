package calibrate

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// referenceAllocate is a line-by-line transcription of the reference's
// error_aware_layer_budget_allocation (numpy), kept deliberately naive:
// float budgets, candidates recomputed every pass, argsort by -importance.
func referenceAllocate(importance []float64, totalBudget, minTokens, maxTokens int) []int {
	n := len(importance)
	base := make([]float64, n)
	baseSum := 0.0
	for i := range base {
		base[i] = float64(minTokens)
		baseSum += base[i]
	}
	remainingBudget := float64(totalBudget) - baseSum
	budget := make([]float64, n)
	for i := range budget {
		extra := math.RoundToEven(importance[i] * remainingBudget) // np.round: half to even
		budget[i] = base[i] + extra
		// np.clip(a, lo, hi) == minimum(maximum(a, lo), hi)
		budget[i] = math.Min(math.Max(budget[i], float64(minTokens)), float64(maxTokens))
	}
	sum := 0.0
	for _, b := range budget {
		sum += b
	}
	diff := int(float64(totalBudget) - sum)
	for diff != 0 {
		var candidates []int
		if diff > 0 {
			for i, b := range budget {
				if b < float64(maxTokens) {
					candidates = append(candidates, i)
				}
			}
			if len(candidates) == 0 {
				break
			}
			sort.SliceStable(candidates, func(a, b int) bool { return -importance[candidates[a]] < -importance[candidates[b]] })
			for _, i := range candidates {
				if budget[i] < float64(maxTokens) {
					budget[i]++
					diff--
					if diff == 0 {
						break
					}
				}
			}
		} else {
			for i, b := range budget {
				if b > float64(minTokens) {
					candidates = append(candidates, i)
				}
			}
			if len(candidates) == 0 {
				break
			}
			sort.SliceStable(candidates, func(a, b int) bool { return importance[candidates[a]] < importance[candidates[b]] })
			for _, i := range candidates {
				if budget[i] > float64(minTokens) {
					budget[i]--
					diff++
					if diff == 0 {
						break
					}
				}
			}
		}
	}
	out := make([]int, n)
	for i, b := range budget {
		out[i] = int(b)
	}
	return out
}

func sum(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return s
}

func TestAllocateMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	for trial := 0; trial < 1000; trial++ {
		layers := 1 + rng.IntN(40)
		scores := make([]float64, layers)
		var total float64
		for l := range scores {
			switch rng.IntN(4) {
			case 0: // peaked
				scores[l] = math.Pow(rng.Float64(), 8)
			case 1: // ties
				scores[l] = float64(rng.IntN(3))
			default:
				scores[l] = rng.Float64()
			}
			total += scores[l]
		}
		if total == 0 {
			scores[0], total = 1, 1
		}
		for l := range scores {
			scores[l] /= total
		}
		avg := []int{32, 33, 48, 64, 100, 128, 256, 512, 1024, 2048}[rng.IntN(10)]
		floor := []int{0, 8, 32, 32, 32}[rng.IntN(5)]
		factor := 1 + rng.IntN(4)
		got := Allocate(scores, avg, floor, factor)
		want := referenceAllocate(scores, avg*layers, floor, factor*avg)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: Allocate(%v, avg %d, floor %d, factor %d) = %v, reference %v", trial, scores, avg, floor, factor, got, want)
		}
		if s := sum(got); s != avg*layers {
			t.Fatalf("trial %d: budgets %v sum to %d, want %d", trial, got, s, avg*layers)
		}
		for l, b := range got {
			if b < floor || b > factor*avg {
				t.Fatalf("trial %d: layer %d budget %d outside [%d, %d]", trial, l, b, floor, factor*avg)
			}
		}
	}
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		name                 string
		scores               []float64
		avg, floor, ceilingF int
		want                 []int
	}{
		// T = 256, m*L = 128, 128 extra split evenly.
		{"uniform", []float64{0.25, 0.25, 0.25, 0.25}, 64, 32, 3, []int{64, 64, 64, 64}},
		// Layer 0 wants 32+128 = 160, clipped to M = 192? no: 160 <= 192, others 32.
		{"all mass on one layer", []float64{1, 0, 0, 0}, 64, 32, 3, []int{160, 32, 32, 32}},
		// M = 128: layer 0 clipped from 160 to 128, 32 short. Each pass adds
		// 1 to layers 1, 2, 3 (below M; equal scores by layer): 10 full
		// passes and 2 more.
		{"clip at ceiling then repair", []float64{1, 0, 0, 0}, 64, 32, 2, []int{128, 43, 43, 42}},
		{"ceiling factor 1 forces uniform", []float64{0.7, 0.1, 0.1, 0.1}, 64, 32, 1, []int{64, 64, 64, 64}},
		// Banker's rounding, remaining 4: 0.5 -> 0, 1.5 -> 2; sums to 132 as is.
		{"round half to even", []float64{0.125, 0.375, 0.125, 0.375}, 33, 32, 3, []int{32, 34, 32, 34}},
		// Remaining 4: 0.5, 0.5, 0.5 -> 0 and 2.5 -> 2, so 2 short: one each
		// to layer 3 (highest score) then layer 0 (first of the ties).
		{"repair short", []float64{0.125, 0.125, 0.125, 0.625}, 33, 32, 3, []int{33, 32, 32, 35}},
		// Remaining 3: 1.5 -> 2 twice, one too many; taken from the lowest
		// score above the floor: layer 2 sits at the floor, so layer 0.
		{"repair over", []float64{0.5, 0.5, 0}, 33, 32, 3, []int{33, 34, 32}},
		// avg below the floor: documented reference behaviour, all floor.
		{"avg below floor", []float64{0.5, 0.5}, 16, 32, 3, []int{32, 32}},
		{"no layers", nil, 64, 32, 3, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Allocate(tt.scores, tt.avg, tt.floor, tt.ceilingF)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Allocate(%v, %d, %d, %d) = %v, want %v", tt.scores, tt.avg, tt.floor, tt.ceilingF, got, tt.want)
			}
		})
	}
}

func TestLayerScores(t *testing.T) {
	// Dataset A: [1, 3] -> [0.25, 0.75]; dataset B: [20, 20] -> [0.5, 0.5]
	// (its scale does not matter); mean [0.375, 0.625], already summing to 1.
	scores, per, err := LayerScores([][]float64{{1, 3}, {20, 20}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0.375, 0.625}; !slices.Equal(scores, want) {
		t.Errorf("LayerScores = %v, want %v", scores, want)
	}
	if want := [][]float64{{0.25, 0.75}, {0.5, 0.5}}; !slices.Equal(per[0], want[0]) || !slices.Equal(per[1], want[1]) {
		t.Errorf("per-dataset scores = %v, want %v", per, want)
	}
	// Three datasets, one layer never errs in one of them.
	scores, _, err = LayerScores([][]float64{{2, 0, 2}, {1, 1, 2}, {0, 0, 5}})
	if err != nil {
		t.Fatal(err)
	}
	// normalised: [.5 0 .5], [.25 .25 .5], [0 0 1]; mean [.25, 1/12, 2/3].
	want := []float64{0.25, 1.0 / 12, 2.0 / 3}
	for l := range want {
		if math.Abs(scores[l]-want[l]) > 1e-15 {
			t.Errorf("layer %d score %v, want %v", l, scores[l], want[l])
		}
	}

	for _, bad := range [][][]float64{
		nil,
		{{0, 0}},
		{{1, -1}},
		{{1, math.NaN()}},
		{{1, math.Inf(1)}},
		{{1, 2}, {1}},
	} {
		if _, _, err := LayerScores(bad); err == nil {
			t.Errorf("LayerScores(%v): want an error", bad)
		}
	}
}

func TestCheckAllocation(t *testing.T) {
	tests := []struct {
		avg, floor, factor int
		ok                 bool
	}{
		{64, 32, 3, true},
		{32, 32, 3, true},
		{16, 32, 3, false},
		{0, 0, 3, false},
		{64, 32, 0, false},
		{64, -1, 3, false},
		{MaxAverage, 32, 3, true},
		{MaxAverage + 1, 32, 3, false},
		{4611686018427387904, 32, 3, false}, // printed negative budgets before the bound
		{64, MaxAverage + 1, 3, false},
		{64, 32, MaxCeilingFactor + 1, false},
	}
	for _, tt := range tests {
		if err := CheckAllocation(tt.avg, tt.floor, tt.factor); (err == nil) != tt.ok {
			t.Errorf("CheckAllocation(%d, %d, %d) = %v, want ok=%v", tt.avg, tt.floor, tt.factor, err, tt.ok)
		}
	}
}

// passAllocate is Allocate as it was before its repair became O(L log L):
// the repair adds (or removes) one token per layer per pass. It is the
// oracle the fast repair must agree with exactly.
func passAllocate(scores []float64, avg int, floor int, ceilingFactor int) []int {
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

func TestAllocateMatchesPassByPassRepair(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2508))
	repaired := 0
	for trial := range 20000 {
		layers := 1 + rng.IntN(64)
		scores := make([]float64, layers)
		switch trial % 4 {
		case 0: // a normalised score vector, as calibrate makes
			sum := 0.0
			for l := range scores {
				scores[l] = rng.Float64()
				sum += scores[l]
			}
			for l := range scores {
				scores[l] /= sum
			}
		case 1: // few distinct values: many ties
			for l := range scores {
				scores[l] = float64(rng.IntN(3)) / float64(layers)
			}
		case 2: // concentrated on one layer, so the ceiling binds
			scores[rng.IntN(layers)] = 1
		default: // not normalised: sums far from 1 need long repairs
			for l := range scores {
				scores[l] = rng.Float64() * 3 * rng.Float64()
			}
		}
		avg := 1 + rng.IntN(600)
		floor := rng.IntN(2 * avg) // sometimes above avg: the repair stalls
		factor := rng.IntN(6)      // 0 and 1 included: ceilings below the floor
		want := passAllocate(scores, avg, floor, factor)
		got := Allocate(scores, avg, floor, factor)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: Allocate(%v, avg %d, floor %d, factor %d)\n = %v\nwant %v", trial, scores, avg, floor, factor, got, want)
		}
		sum := 0
		for _, b := range want {
			sum += b
		}
		if sum == avg*layers {
			repaired++
		}
	}
	if repaired < 10000 {
		t.Errorf("only %d of 20000 random cases reached the exact total; the test covers too few repairs", repaired)
	}
}

func TestAllocateHugeAverageIsFast(t *testing.T) {
	// With the pass-by-pass repair this took ~1e9 passes; scores that sum
	// to 0.5 leave half the total to the repair.
	scores := make([]float64, 32)
	for l := range scores {
		scores[l] = 0.5 / 32
	}
	scores[3] += 0.25
	avg := 1_000_000_000
	b := Allocate(scores, avg, 32, 3)
	sum := 0
	for l, x := range b {
		if x < 32 || x > 3*avg {
			t.Fatalf("layer %d: budget %d outside [32, %d]", l, x, 3*avg)
		}
		sum += x
	}
	if sum != avg*32 {
		t.Fatalf("budgets sum to %d, want %d", sum, avg*32)
	}
	if b[3] <= b[0] {
		t.Errorf("the layer with the larger score got %d, another %d", b[3], b[0])
	}
}
