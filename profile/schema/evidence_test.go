package schema

import (
	"strings"
	"testing"
)

func TestCheckEvidence(t *testing.T) {
	tests := []struct {
		name       string
		probes     ProbeInfo
		minSuccess int
		want       string // "" for no error
	}{
		{"none passed", ProbeInfo{Run: 40, Successful: 0, SuccessRecall: 0.5}, 1, "none of the 40 probes passed the recall gate (ROUGE-1 recall > 0.5)"},
		{"one passed", ProbeInfo{Run: 40, Successful: 1}, 1, ""},
		{"below the floor", ProbeInfo{Run: 40, Successful: 3}, 10, "only 3 of 40 probes passed the recall gate, fewer than --min-success 10"},
		{"at the floor", ProbeInfo{Run: 40, Successful: 10}, 10, ""},
		{"floor 0 accepts none", ProbeInfo{Run: 40}, 0, ""},
		{"imported, no probes", ProbeInfo{}, 1, ""},
	}
	for _, tt := range tests {
		err := CheckEvidence(&Profile{Probes: tt.probes}, tt.minSuccess)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
