package profile

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// handSteps is a 2-layer, 2-head probe worked out by hand. The prompt is
// [1 5 7 9 7 3 2 4] with the answer span [2,5) = [7 9 7]: token 7 occurs
// twice in the span, and token 4 occurs only outside it. Each step gives the
// rows [layer][head][positions] of the query that produced `generated`.
var handPrompt = []int{1, 5, 7, 9, 7, 3, 2, 4}

var handSteps = []struct {
	generated int
	probs     [][][]float32
}{
	{ // produces 7 (twice in the span: the span mass counts twice)
		generated: 7,
		probs: [][][]float32{
			{
				{0, 0, 0.5, 0.25, 0, 0, 0, 0, 0.25}, // mass 0.75; top 2 = 7: retrieval hit
				{0.25, 0, 0, 0, 0, 0, 0, 0, 0.75},   // mass 0; top 8 outside
			},
			{
				{0, 0, 0.25, 0, 0.25, 0, 0, 0, 0.5},   // mass 0.5; top 8 outside
				{0, 0, 0.125, 0.5, 0.375, 0, 0, 0, 0}, // mass 1; top 3 = 9 != 7
			},
		},
	},
	{ // produces 9 (once in the span)
		generated: 9,
		probs: [][][]float32{
			{
				{0, 0, 0, 0.5, 0, 0, 0, 0, 0, 0.5},         // mass 0.5; tie 3/9 -> 3 = 9: hit
				{0, 0, 0.25, 0.25, 0.25, 0, 0, 0, 0.25, 0}, // mass 0.75; tie -> 2 = 7 != 9
			},
			{
				{1, 0, 0, 0, 0, 0, 0, 0, 0, 0},       // mass 0
				{0, 0, 0, 0.75, 0, 0, 0, 0, 0, 0.25}, // mass 0.75; top 3 = 9: hit
			},
		},
	},
	{ // produces 4, which is not in the span: nothing counts
		generated: 4,
		probs: [][][]float32{
			{
				{0, 0, 0.25, 0, 0, 0, 0, 0.75, 0, 0, 0}, // top 7 = 4 but outside the span
				{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
			},
			{
				{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0},
				{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
			},
		},
	},
}

func runHand(t *testing.T, normalized bool) ProbeScores {
	t.Helper()
	acc, err := NewAccumulator(2, 2, handPrompt, 2, 5, normalized)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range handSteps {
		for l, rows := range step.probs {
			if err := acc.Observe(l, rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := acc.Commit(step.generated); err != nil {
			t.Fatal(err)
		}
	}
	if acc.Steps() != len(handSteps) {
		t.Fatalf("Steps() = %d, want %d", acc.Steps(), len(handSteps))
	}
	return acc.Scores()
}

func TestAccumulatorByHand(t *testing.T) {
	got := runHand(t, false)
	// SRH: step 7 adds 2 x mass, step 9 adds 1 x mass, step 4 adds nothing.
	wantSRH := [][]float64{
		{2*0.75 + 0.5, 2*0 + 0.75}, // 2, 0.75
		{2*0.5 + 0, 2*1 + 0.75},    // 1, 2.75
	}
	// Retrieval: 1/3 per hit; hits at L0H0 (steps 7, 9) and L1H1 (step 9).
	wantRet := [][]float64{{2.0 / 3, 0}, {0, 1.0 / 3}}
	if !reflect.DeepEqual(got.SRH, wantSRH) {
		t.Errorf("SRH = %v, want %v", got.SRH, wantSRH)
	}
	if !reflect.DeepEqual(got.Retrieval, wantRet) {
		t.Errorf("Retrieval = %v, want %v", got.Retrieval, wantRet)
	}
}

func TestAccumulatorNormalized(t *testing.T) {
	got := runHand(t, true)
	// Each matching step adds mass / 3 once, however often the token occurs.
	wantSRH := [][]float64{
		{(0.75 + 0.5) / 3, 0.75 / 3},
		{0.5 / 3, (1 + 0.75) / 3},
	}
	for l := range wantSRH {
		for h := range wantSRH[l] {
			if math.Abs(got.SRH[l][h]-wantSRH[l][h]) > 1e-15 {
				t.Errorf("normalised SRH[%d][%d] = %v, want %v", l, h, got.SRH[l][h], wantSRH[l][h])
			}
		}
	}
	// The classic score does not change with the SRH variant.
	if want := [][]float64{{2.0 / 3, 0}, {0, 1.0 / 3}}; !reflect.DeepEqual(got.Retrieval, want) {
		t.Errorf("Retrieval = %v, want %v", got.Retrieval, want)
	}
}

// TestAccumulatorNoSpan: a probe without span ([-1, -1], the reference's
// find_needle_idx finding none) scores zero everywhere, whatever it
// attends to and produces, as the reference's empty range(-1, -1) does.
func TestAccumulatorNoSpan(t *testing.T) {
	acc, err := NewAccumulator(2, 2, handPrompt, -1, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range handSteps {
		for l, rows := range step.probs {
			if err := acc.Observe(l, rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := acc.Commit(step.generated); err != nil {
			t.Fatal(err)
		}
	}
	zero := [][]float64{{0, 0}, {0, 0}}
	if got := acc.Scores(); !reflect.DeepEqual(got.SRH, zero) || !reflect.DeepEqual(got.Retrieval, zero) {
		t.Errorf("scores without span = %+v, want zeros", got)
	}
}

func TestAccumulatorErrors(t *testing.T) {
	if _, err := NewAccumulator(2, 2, handPrompt, 5, 5, false); err == nil {
		t.Error("empty span accepted")
	}
	if _, err := NewAccumulator(2, 2, handPrompt, 6, 9, false); err == nil {
		t.Error("span past the prompt accepted")
	}
	acc, err := NewAccumulator(2, 2, handPrompt, 2, 5, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		layer int
		probs [][]float32
		want  string
	}{
		{"layer out of range", 2, handSteps[0].probs[0], "layer 2"},
		{"wrong head count", 0, handSteps[0].probs[0][:1], "for 1 heads"},
		{"row shorter than span", 0, [][]float32{{1, 0, 0, 0}, {1, 0, 0, 0}}, "does not cover"},
	}
	for _, tc := range tests {
		if err := acc.Observe(tc.layer, tc.probs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if err := acc.Observe(0, handSteps[0].probs[0]); err != nil {
		t.Fatal(err)
	}
	if err := acc.Commit(7); err == nil || !strings.Contains(err.Error(), "layer 1") {
		t.Errorf("Commit with layer 1 unobserved: %v", err)
	}
}

func TestMeanAndRank(t *testing.T) {
	a := ProbeScores{SRH: [][]float64{{1, 2, 0}}, Retrieval: [][]float64{{0, 0.5, 0.5}}}
	b := ProbeScores{SRH: [][]float64{{3, 0, 0}}, Retrieval: [][]float64{{0, 0.5, 0}}}
	m := Mean(1, 3, []ProbeScores{a, b})
	if want := [][]float64{{2, 1, 0}}; !reflect.DeepEqual(m.SRH, want) {
		t.Errorf("mean SRH = %v, want %v", m.SRH, want)
	}
	if want := [][]float64{{0, 0.5, 0.25}}; !reflect.DeepEqual(m.Retrieval, want) {
		t.Errorf("mean retrieval = %v, want %v", m.Retrieval, want)
	}
	if z := Mean(1, 2, nil); !reflect.DeepEqual(z.SRH, [][]float64{{0, 0}}) {
		t.Errorf("mean of no probes = %v, want zeros", z.SRH)
	}

	tests := []struct {
		scores [][]float64
		want   [][]int
	}{
		{[][]float64{{0.1, 0.3, 0.2}}, [][]int{{1, 2, 0}}},
		{[][]float64{{0.5, 0.7, 0.5, 0.7}}, [][]int{{1, 3, 0, 2}}}, // ties: lower head first
		{[][]float64{{0, 0, 0}, {1, 2, 3}}, [][]int{{0, 1, 2}, {2, 1, 0}}},
	}
	for _, tc := range tests {
		if got := Rank(tc.scores); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Rank(%v) = %v, want %v", tc.scores, got, tc.want)
		}
	}
}

// TestAccumulatorBF16SpanMass: in reference mode each weight is rounded to
// bfloat16, summed in float32 and the sum rounded to bfloat16. Head 0's
// weights 0.5+2^-10 and 0.25+2^-11 round to 0.5 and 0.25 (their excess is
// under half a bfloat16 step), giving 0.75; head 1's 0.5 + 2^-9 is exactly
// half a step above 0.5 and rounds to even, 0.5. The float64 masses are
// 0.75146484375 and 0.501953125.
func TestAccumulatorBF16SpanMass(t *testing.T) {
	rows := [][]float32{{0.25, 0.5009765625, 0.25048828125}, {0, 0.5, 0.001953125}}
	for _, tt := range []struct {
		bf16 bool
		want []float64
	}{
		{false, []float64{0.75146484375, 0.501953125}},
		{true, []float64{0.75, 0.5}},
	} {
		acc, err := NewAccumulator(1, 2, []int{5, 6, 7}, 1, 3, false)
		if err != nil {
			t.Fatal(err)
		}
		if tt.bf16 {
			acc.UseBF16SpanMass()
		}
		if err := acc.Observe(0, rows); err != nil {
			t.Fatal(err)
		}
		if err := acc.Commit(6); err != nil {
			t.Fatal(err)
		}
		if got := acc.Scores().SRH[0]; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("bf16 %v: SRH %v, want %v", tt.bf16, got, tt.want)
		}
	}
}
