package needle

import (
	"slices"
	"strings"
	"testing"
)

func TestTemplateFor(t *testing.T) {
	const ctx, q, prefix = "CTX. ", "Q?", "P is"
	tests := []struct {
		name, wantName, want string
	}{
		// The reference: context + question, no separator.
		{"raw", "raw", "CTX. Based on the content of the book, Question: Q?\nAnswer:"},
		{"answer-prefix", "answer-prefix", "CTX. Based on the content of the book, Question: Q?\nAnswer: P is"},
		{"llama3", "llama3", "<|start_header_id|>user<|end_header_id|>\n\n<book>CTX. </book>\nBased on the content of the book, Question: Q?\nAnswer:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"mistral", "mistral", "[INST] <book>CTX. </book>\nBased on the content of the book, Question: Q?\nAnswer:[/INST]"},
		{"qwen2", "qwen2", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<book>CTX. </book>\nBased on the content of the book, Question: Q?\nAnswer:<|im_end|>\n<|im_start|>assistant\n"},
		{"ChatML", "qwen2", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<book>CTX. </book>\nBased on the content of the book, Question: Q?\nAnswer:<|im_end|>\n<|im_start|>assistant\n"},
		{"Read: {context}\nQ: {question}", "custom", "Read: CTX. \nQ: Q?"},
	}
	for _, tt := range tests {
		tmpl, err := TemplateFor(tt.name)
		if err != nil {
			t.Errorf("TemplateFor(%q): %v", tt.name, err)
			continue
		}
		if tmpl.Name != tt.wantName {
			t.Errorf("TemplateFor(%q).Name = %q, want %q", tt.name, tmpl.Name, tt.wantName)
		}
		if got := tmpl.Render(ctx, q, prefix); got != tt.want {
			t.Errorf("TemplateFor(%q).Render = %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, err := TemplateFor("gpt"); err == nil || !strings.Contains(err.Error(), "raw") {
		t.Errorf("TemplateFor(gpt) error = %v, want one listing the templates", err)
	}
	if names := TemplateNames(); !slices.Equal(names, []string{"answer-prefix", "llama3", "mistral", "qwen2", "raw"}) {
		t.Errorf("TemplateNames() = %v", names)
	}
}

func TestRenderSinglePass(t *testing.T) {
	tmpl := Template{Name: "raw", Text: "{context}|{question}"}
	if got := tmpl.Render("a {question} b", "Q", ""); got != "a {question} b|Q" {
		t.Errorf("Render expanded a placeholder inside the context: %q", got)
	}
}

func TestDetectTemplate(t *testing.T) {
	tests := []struct{ config, want string }{
		{`{"chat_template": "{{ '<|start_header_id|>' + message['role'] }}"}`, "llama3"},
		{`{"chat_template": "{{ bos_token }}[INST] {{ m }} [/INST]"}`, "mistral"},
		{`{"chat_template": "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"}`, "qwen2"},
		{`{"chat_template": [{"name": "default", "template": "<|im_start|>"}]}`, "qwen2"},
		{`{"add_bos_token": true}`, "raw"},
		{`{"chat_template": "{{ messages }}"}`, "raw"},
		{`not json`, "raw"},
	}
	for _, tt := range tests {
		if got := DetectTemplate([]byte(tt.config)); got != tt.want {
			t.Errorf("DetectTemplate(%s) = %q, want %q", tt.config, got, tt.want)
		}
	}
}

func TestGridSpacing(t *testing.T) {
	// Expected values from numpy 1.24: np.round(np.linspace(...)).astype(int)
	// and the reference's logistic().
	if got, want := LinearLengths(1000, 31500, 20), []int{1000, 2605, 4211, 5816, 7421, 9026, 10632, 12237, 13842, 15447, 17053, 18658, 20263, 21868, 23474, 25079, 26684, 28289, 29895, 31500}; !slices.Equal(got, want) {
		t.Errorf("LinearLengths(1000, 31500, 20) = %v, want %v", got, want)
	}
	if got, want := LinearLengths(1000, 50000, 20)[10], 26789; got != want {
		t.Errorf("LinearLengths(1000, 50000, 20)[10] = %d, want %d", got, want)
	}
	if got, want := LinearDepths(0, 100, 10), []float64{0, 11, 22, 33, 44, 56, 67, 78, 89, 100}; !slices.Equal(got, want) {
		t.Errorf("LinearDepths(0, 100, 10) = %v, want %v", got, want)
	}
	// Half to even, like np.round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
	if got, want := LinearDepths(0, 5, 11), []float64{0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("LinearDepths(0, 5, 11) = %v, want %v", got, want)
	}
	if got, want := LogisticDepths(0, 100, 10), []float64{0, 2.006, 5.854, 15.887, 36.458, 63.542, 84.113, 94.146, 97.994, 100}; !slices.Equal(got, want) {
		t.Errorf("LogisticDepths(0, 100, 10) = %v, want %v", got, want)
	}
	if got := LinearLengths(500, 900, 1); !slices.Equal(got, []int{500}) {
		t.Errorf("LinearLengths(500, 900, 1) = %v", got)
	}
	if got := LinearLengths(500, 900, 0); len(got) != 0 {
		t.Errorf("LinearLengths(500, 900, 0) = %v", got)
	}
}

func TestGridValidate(t *testing.T) {
	tests := []struct {
		grid    Grid
		wantErr string
	}{
		{Grid{ContextLengths: []int{100}, Depths: []float64{0, 100}, Buffer: 10}, ""},
		{Grid{Depths: []float64{0}}, "no context lengths"},
		{Grid{ContextLengths: []int{100}}, "no depths"},
		{Grid{ContextLengths: []int{0}, Depths: []float64{0}}, "context length 0"},
		{Grid{ContextLengths: []int{100}, Depths: []float64{101}}, "depth 101"},
		{Grid{ContextLengths: []int{100}, Depths: []float64{50}, Buffer: -1}, "buffer -1"},
	}
	for _, tt := range tests {
		err := tt.grid.Validate()
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v.Validate() = %v, want %q", tt.grid, err, tt.wantErr)
		}
	}
}

func TestTemplateWarnings(t *testing.T) {
	llama3, err := TemplateFor("llama3")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := TemplateFor("raw")
	if err != nil {
		t.Fatal(err)
	}
	vocab := map[string]bool{"<|start_header_id|>": true, "<|end_header_id|>": true, "<|eot_id|>": true}
	has := func(p string) bool { return vocab[p] }
	none := func(string) bool { return false }
	tests := []struct {
		name string
		tmpl Template
		auto bool
		chat string
		has  func(string) bool
		want []string // substrings, one per warning
	}{
		{"llama3 on a Llama 3 vocabulary", llama3, false, "", has, nil},
		{"llama3 on another vocabulary", llama3, false, "", none,
			[]string{"--template llama3 uses <|start_header_id|>, <|end_header_id|>, <|eot_id|>, which the tokenizer does not have as tokens"}},
		{"auto without a chat template", raw, true, "", none, []string{"has no chat_template"}},
		{"auto with an unknown chat template", raw, true, "{% for m in messages %}{{ m.content }}{% endfor %}", none, []string{"is not one of llama3, mistral or qwen2"}},
		{"raw chosen by name", raw, false, "", none, nil},
	}
	for _, tt := range tests {
		got := TemplateWarnings(tt.tmpl, tt.auto, tt.chat, tt.has)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d warnings %q, want %d", tt.name, len(got), got, len(tt.want))
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tt.want[i]) {
				t.Errorf("%s: warning %q, want it to contain %q", tt.name, got[i], tt.want[i])
			}
		}
	}
}
