package calibrate

import (
	"slices"
	"strings"
	"testing"
)

func TestParsePrompts(t *testing.T) {
	data := `{"prompt": "Once upon a time"}

{"context": "The sky is {input}.", "input": "What colour?", "answers": ["blue"]}
{"prompt": "line\nbreak", "context": "ignored"}
{"ids": [1, 5, 9]}
`
	got, err := parsePrompts("d.jsonl", []byte(data), DefaultTemplate)
	if err != nil {
		t.Fatal(err)
	}
	want := []Prompt{
		{Text: "Once upon a time"},
		{Text: "The sky is {input}.\n\nQuestion: What colour?\nAnswer:"},
		{Text: "line\nbreak"},
		{IDs: []int{1, 5, 9}},
	}
	if !slices.EqualFunc(got, want, func(a, b Prompt) bool { return a.Text == b.Text && slices.Equal(a.IDs, b.IDs) }) {
		t.Errorf("prompts %+v, want %+v", got, want)
	}
	custom, err := parsePrompts("d.jsonl", []byte(`{"a": "x", "b": "y"}`), "{b}-{a}-{b}")
	if err != nil || len(custom) != 1 || custom[0].Text != "y-x-y" {
		t.Errorf("custom template: %+v, %v", custom, err)
	}

	for _, tt := range []struct{ data, template, want string }{
		{`{"context": "c"}`, DefaultTemplate, `d.jsonl:1: no "prompt" field and no string field "input"`},
		{"\n[1, 2]", DefaultTemplate, "d.jsonl:2: want a JSON object"},
		{`{"prompt": 3}`, DefaultTemplate, `"prompt" is float64`},
		{`{"context": "c"}`, "plain", "no {field} placeholders"},
		{"\n\n", DefaultTemplate, "no prompts"},
		{`{"prompt": "a"`, DefaultTemplate, "d.jsonl:1"},
		{`{"ids": []}`, DefaultTemplate, "non-empty array"},
		{`{"ids": [1, -2]}`, DefaultTemplate, "entry 1 (-2)"},
		{`{"ids": [1.5]}`, DefaultTemplate, "entry 0"},
	} {
		_, err := parsePrompts("d.jsonl", []byte(tt.data), tt.template)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parsePrompts(%q): error %v, want %q", tt.data, err, tt.want)
		}
	}
	if got := DatasetName("data/hotpotqa.jsonl"); got != "hotpotqa" {
		t.Errorf("DatasetName = %q", got)
	}
}

func FuzzParsePrompts(f *testing.F) {
	f.Add([]byte(`{"prompt": "a"}`), DefaultTemplate)
	f.Add([]byte(`{"context": "c", "input": "i"}`), DefaultTemplate)
	f.Add([]byte("{\"a\": \"{b}\"}\n{}"), "{a}{b}")
	f.Fuzz(func(t *testing.T, data []byte, template string) {
		prompts, err := parsePrompts("fuzz", data, template)
		if err == nil && len(prompts) == 0 {
			t.Error("no error and no prompts")
		}
	})
}
