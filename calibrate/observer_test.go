package calibrate

import (
	"math"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/model/kernels"
)

// feedPrefill drives ErrorObserver.prefill for one layer of a one-head
// model with head dim 2 whose keys are zero except a spike.
func feedPrefill(o *ErrorObserver, layer, tokens, spike int) {
	w := o.params.Window
	positions := make([]int, w)
	queries := make([]float32, w*2)
	for i := range positions {
		positions[i] = tokens - w + i
		queries[2*i] = 10
	}
	keys := kernels.Matrix{Rows: tokens, Cols: 2, DType: kernels.F32, F32: make([]float32, tokens*2)}
	keys.F32[2*spike] = 200
	o.prefill(layer, tokens, 1, 2, positions, queries, func(int) kernels.Matrix { return keys })
}

func TestErrorObserverAccounting(t *testing.T) {
	p := selection.Params{Window: 2, Kernel: 1, Pooling: selection.PoolAvg}
	o, err := NewErrorObserver([][]int{{0}, {0}}, 3, p)
	if err != nil {
		t.Fatal(err)
	}
	// Layer 0 looks at position 1, layer 1 at position 3 of a 6-token prompt:
	// budget 3 keeps that position plus the window 4, 5.
	feedPrefill(o, 0, 6, 1)
	feedPrefill(o, 1, 6, 3)
	if err := o.Err(); err != nil {
		t.Fatal(err)
	}
	if got := o.Kept(0); !slices.Equal(got, []int{1, 4, 5}) {
		t.Fatalf("layer 0 kept %v, want [1 4 5]", got)
	}
	full := []float32{0, 5}
	var seen [][]int
	// The cut output is (3, 4) at position 6 and exact at position 7 for
	// layer 0; layer 1 is always exact.
	attend := func(layer int) func(keep []int, pre, post []float32) error {
		return func(keep []int, pre, post []float32) error {
			seen = append(seen, slices.Clone(keep))
			if len(pre) < 2 {
				t.Errorf("pre has %d floats, want >= 2", len(pre))
			}
			copy(post, full)
			if layer == 0 && keep[len(keep)-1] == 6 {
				post[0], post[1] = 3, 4
			}
			return nil
		}
	}
	for pos := 6; pos <= 7; pos++ {
		for l := 0; l < 2; l++ {
			o.step(l, pos, 2, full, attend(l))
		}
	}
	if err := o.Err(); err != nil {
		t.Fatal(err)
	}
	wantSeen := [][]int{{1, 4, 5, 6}, {3, 4, 5, 6}, {1, 4, 5, 6, 7}, {3, 4, 5, 6, 7}}
	for i := range wantSeen {
		if !slices.Equal(seen[i], wantSeen[i]) {
			t.Errorf("AttendSubset call %d kept %v, want %v", i, seen[i], wantSeen[i])
		}
	}
	// ||(3,4) - (0,5)|| / (||(0,5)|| + 1e-5) = sqrt(10) / 5.00001.
	want := []float64{math.Sqrt(10) / (5 + 1e-5), 0}
	if got := o.Errors(); !slices.Equal(got, want) {
		t.Errorf("errors = %v, want %v", got, want)
	}
	if o.Steps() != 2 {
		t.Errorf("steps = %d, want 2", o.Steps())
	}
}

func TestErrorObserverWithinBudget(t *testing.T) {
	p := selection.Params{Window: 2, Kernel: 1, Pooling: selection.PoolAvg}
	o, err := NewErrorObserver([][]int{{0}}, 8, p)
	if err != nil {
		t.Fatal(err)
	}
	feedPrefill(o, 0, 8, 1)
	o.step(0, 8, 2, []float32{1, 1}, func(keep []int, pre, post []float32) error {
		t.Error("AttendSubset called for a prompt within the budget")
		return nil
	})
	if err := o.Err(); err != nil {
		t.Fatal(err)
	}
	if o.Kept(0) != nil || o.Errors()[0] != 0 || o.Steps() != 1 {
		t.Errorf("kept %v errors %v steps %d, want nil [0] 1", o.Kept(0), o.Errors(), o.Steps())
	}
}

func TestErrorObserverErrors(t *testing.T) {
	p := selection.Params{Window: 2, Kernel: 1, Pooling: selection.PoolAvg}
	if _, err := NewErrorObserver([][]int{{0}}, 2, p); err == nil {
		t.Error("budget equal to the window: want an error")
	}
	if _, err := NewErrorObserver([][]int{{}}, 4, p); err == nil {
		t.Error("a layer without heads: want an error")
	}
	o, _ := NewErrorObserver([][]int{{0}, {0}}, 3, p)
	feedPrefill(o, 0, 6, 1)
	feedPrefill(o, 1, 7, 1)
	if o.Err() == nil {
		t.Error("layers with different cache lengths: want an error")
	}
	o, _ = NewErrorObserver([][]int{{0}}, 3, p)
	feedPrefill(o, 3, 6, 1)
	if o.Err() == nil {
		t.Error("layer beyond the ranking: want an error")
	}
}

func TestRelativeError(t *testing.T) {
	tests := []struct {
		cut, full []float32
		want      float64
	}{
		{[]float32{1, 2, 2}, []float32{1, 2, 2}, 0},
		{[]float32{0, 0}, []float32{3, 4}, 5 / (5 + 1e-5)},
		{[]float32{1, 0}, []float32{0, 0}, 1 / 1e-5},
	}
	for _, tt := range tests {
		if got := relativeError(tt.cut, tt.full); math.Abs(got-tt.want) > 1e-12*math.Max(1, tt.want) {
			t.Errorf("relativeError(%v, %v) = %v, want %v", tt.cut, tt.full, got, tt.want)
		}
	}
}
