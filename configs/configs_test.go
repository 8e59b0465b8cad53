package configs

import (
	"slices"
	"strings"
	"testing"
)

func TestNamesAndRead(t *testing.T) {
	names := Names()
	for _, want := range []string{"probes-quick.yaml", "probes-synth.yaml", "probes.yaml", "templates.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() = %v, missing %s", names, want)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	tests := []struct {
		name, contains string
	}{
		{"probes.yaml", "max-length: 31500"},
		{"probes-quick.yaml", "template: raw"},
		{"probes-synth.yaml", "template: answer-prefix"},
		{"templates.yaml", "raw: \"{context}Based on the content of the book, Question: {question}\\nAnswer:\""},
	}
	for _, tt := range tests {
		data, err := Read(tt.name)
		if err != nil {
			t.Fatalf("Read(%q): %v", tt.name, err)
		}
		if !strings.Contains(string(data), tt.contains) {
			t.Errorf("Read(%q) lacks %q", tt.name, tt.contains)
		}
	}
	if _, err := Read("nope.yaml"); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("Read(nope.yaml) error = %v, want one naming the file", err)
	}
}
