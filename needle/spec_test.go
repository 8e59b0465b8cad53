package needle

import (
	"reflect"
	"strings"
	"testing"
)

func TestSpecGrid(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		want    Grid
		wantErr string
	}{
		{"linear", Spec{MinLength: 1000, MaxLength: 4000, Intervals: 4, MinDepth: 0, MaxDepth: 100, DepthIntervals: 3, Buffer: 200},
			Grid{ContextLengths: []int{1000, 2000, 3000, 4000}, Depths: []float64{0, 50, 100}, Buffer: 200}, ""},
		{"logistic", Spec{Lengths: []int{500}, MinDepth: 0, MaxDepth: 100, DepthIntervals: 3, Logistic: true},
			Grid{ContextLengths: []int{500}, Depths: []float64{0, 50, 100}}, ""},
		{"explicit lists win", Spec{Lengths: []int{700, 300}, Depths: []float64{10}, MinLength: 1, MaxLength: 2, Intervals: 9},
			Grid{ContextLengths: []int{700, 300}, Depths: []float64{10}}, ""},
		{"no intervals", Spec{MinLength: 1000, MaxLength: 2000, Depths: []float64{0}}, Grid{}, "intervals 0"},
		{"min above max", Spec{MinLength: 3000, MaxLength: 2000, Intervals: 2, Depths: []float64{0}}, Grid{}, "min <= max"},
		{"no depth intervals", Spec{Lengths: []int{100}}, Grid{}, "depths"},
		{"depth out of range", Spec{Lengths: []int{100}, Depths: []float64{120}}, Grid{}, "depth 120"},
	}
	for _, tt := range tests {
		got, err := tt.spec.Grid()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Grid() = %+v, %v, want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestSpecInputs(t *testing.T) {
	needles, name, err := Spec{NeedleSeed: 4, NeedlesCount: 2}.NeedleSet()
	if err != nil || name != "generated" || !reflect.DeepEqual(needles, GenerateNeedles(4, 2)) {
		t.Errorf("generated NeedleSet = %v, %q, %v", needles, name, err)
	}
	if _, _, err := (Spec{}).NeedleSet(); err == nil {
		t.Error("NeedleSet with count 0: no error")
	}
	needles, name, err = Spec{Needles: "testdata/needles.jsonl"}.NeedleSet()
	if err != nil || name != "needles.jsonl" || len(needles) != 2 {
		t.Errorf("file NeedleSet = %d needles, %q, %v", len(needles), name, err)
	}
	text, name, err := Spec{Seed: 9}.HaystackText(100)
	if err != nil || name != "generated" || text != GenerateHaystack(9, 1500) {
		t.Errorf("generated HaystackText: %q, %v", name, err)
	}
	text, name, err = Spec{Haystack: "testdata/haystack"}.HaystackText(100)
	if err != nil || name != "haystack" || !strings.HasPrefix(text, "First file.") {
		t.Errorf("folder HaystackText = %q, %q, %v", text, name, err)
	}
	if got := (Grid{ContextLengths: []int{3, 9, 4}}).MaxLength(); got != 9 {
		t.Errorf("MaxLength = %d", got)
	}
}
