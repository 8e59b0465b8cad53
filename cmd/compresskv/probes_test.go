package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/needle"
)

func runProbesCLI(args ...string) (code int, stdout, stderr string) {
	return runCLI(append([]string{"probes"}, args...)...)
}

// byteTokenizerDir writes a Hugging Face tokenizer.json with no merges: a
// byte-level BPE whose tokens are single bytes, plus a BOS "<s>" (id 256)
// added by the post-processor. It makes probes without ../shared.
func byteTokenizerDir(t *testing.T) string {
	t.Helper()
	vocab := map[string]int{}
	next := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE) {
			r = rune(256 + next)
			next++
		}
		vocab[string(r)] = b
	}
	doc := map[string]any{
		"version":        "1.0",
		"added_tokens":   []any{map[string]any{"id": 256, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "TemplateProcessing", "single": []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}}, "pair": []any{}, "special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{256}, "tokens": []string{"<s>"}}}},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestProbesUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "--tokenizer is required"},
		{[]string{"--tokenizer", "x", "--template", "gpt"}, "--template"},
		{[]string{"--tokenizer", "x", "--intervals", "0"}, "intervals 0"},
		{[]string{"--tokenizer", "x", "--depths", "120"}, "depth 120"},
		{[]string{"--tokenizer", "x", "--needles-count", "0"}, "--needles-count"},
		{[]string{"--tokenizer", "x", "--lengths", "a"}, "invalid argument"},
		{[]string{"--tokenizer", "x", "--compat", "exact"}, "--compat"},
		{[]string{"--tokenizer", "x", "--compat", "reference", "--template", "llama3"}, "raw prompt"},
		{[]string{"--tokenizer", "x", "--compat", "reference", "--template", "answer-prefix"}, "answer-prefix is not the reference's"},
		{[]string{"--tokenizer", "x", "--compat", "reference", "--add-special=false"}, "BOS"},
	}
	for _, tc := range tests {
		code, _, stderr := runProbesCLI(tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
	if code, _, stderr := runProbesCLI("--tokenizer", filepath.Join(t.TempDir(), "none")); code != exitFailure || !strings.Contains(stderr, "tokenizer") {
		t.Errorf("missing tokenizer folder: exit %d, stderr %q; want exit 1", code, stderr)
	}
}

// probeRecord is one output line, probe or skip.
type probeRecord struct {
	Index         int     `json:"index"`
	ContextLength int     `json:"context_length"`
	Tokens        int     `json:"tokens"`
	Depth         float64 `json:"depth"`
	NeedleID      string  `json:"needle_id"`
	Span          []int   `json:"span"`
	InsertAt      int     `json:"insert_at"`
	InputIDs      []int   `json:"input_ids"`
	SpanText      string  `json:"span_text"`
	Answer        string  `json:"answer"`
	Prompt        *string `json:"prompt"`
	Skipped       bool    `json:"skipped"`
	Reason        string  `json:"reason"`
}

func parseProbeLines(t *testing.T, stdout string) []probeRecord {
	t.Helper()
	var recs []probeRecord
	for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var r probeRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		if r.Index != i {
			t.Errorf("line %d has index %d, want grid order", i+1, r.Index)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestProbesByteTokenizer(t *testing.T) {
	dir := byteTokenizerDir(t)
	code, stdout, stderr := runProbesCLI("--tokenizer", dir, "--lengths", "60,400", "--depths", "0,50,100",
		"--buffer", "40", "--needles-count", "2", "--needle-seed", "3", "--full-prompt")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "probes: 6 built, 6 skipped") {
		t.Errorf("stderr %q", stderr)
	}
	recs := parseProbeLines(t, stdout)
	if len(recs) != 12 {
		t.Fatalf("%d lines, want 12 (2 needles x 2 lengths x 3 depths)", len(recs))
	}
	if !strings.HasPrefix(stdout, `{"skipped":true,"index":0,"context_length":60,"depth":0,"needle_id":"gen-3-0","reason":"context length 60 leaves no room`) {
		t.Errorf("first line %q", stdout[:120])
	}
	needles := needle.GenerateNeedles(3, 2)
	for _, r := range recs {
		if r.ContextLength == 60 {
			if !r.Skipped {
				t.Errorf("index %d: a 60-token context with a 40-token buffer fits no byte-level needle", r.Index)
			}
			continue
		}
		n := needles[r.Index/6]
		if r.Skipped || r.NeedleID != n.ID || r.Answer != n.Answer || !strings.Contains(r.SpanText, n.Answer) {
			t.Errorf("index %d: %+v, want needle %s with its answer %q in the span", r.Index, r, n.ID, n.Answer)
		}
		// One byte per token: the prompt (plus BOS) is the token count.
		if r.Prompt == nil || len(*r.Prompt)+1 != r.Tokens || r.Span[1]-r.Span[0] != len(n.Answer) {
			t.Errorf("index %d: tokens %d, span %v for prompt %v", r.Index, r.Tokens, r.Span, r.Prompt != nil)
		}
	}
	// Without --full-prompt there is no prompt key, without --input-ids no ids.
	_, stdout, _ = runProbesCLI("--tokenizer", dir, "--lengths", "400", "--depths", "50", "--buffer", "40", "--needles-count", "1")
	if strings.Contains(stdout, `"prompt"`) || strings.Contains(stdout, `"input_ids"`) || !strings.HasPrefix(stdout, `{"index":0,"context_length":400,"tokens":`) {
		t.Errorf("output without --full-prompt: %q", stdout)
	}
	// --input-ids: BOS (256), then one id per prompt byte.
	_, stdout, _ = runProbesCLI("--tokenizer", dir, "--lengths", "400", "--depths", "50", "--buffer", "40", "--needles-count", "1", "--full-prompt", "--input-ids")
	r := parseProbeLines(t, stdout)[0]
	if r.Prompt == nil || len(r.InputIDs) != r.Tokens || r.InputIDs[0] != 256 {
		t.Fatalf("--input-ids: %d ids for %d tokens", len(r.InputIDs), r.Tokens)
	}
	for i, b := range []byte(*r.Prompt) {
		if r.InputIDs[i+1] != int(b) {
			t.Fatalf("--input-ids: id %d is %d, want the prompt byte %d", i+1, r.InputIDs[i+1], b)
		}
	}
}

// TestProbesCompatReference runs the command on the reference-probes
// fixture: with --compat reference every line's input_ids, span and
// insertion point are the reference's.
func TestProbesCompatReference(t *testing.T) {
	fixtures := testshared.Require(t, "fixtures/reference-probes")
	haystack := testshared.Require(t, "haystack/war-and-peace.txt")
	for _, name := range []string{"llama3", "mistral"} {
		t.Run(name, func(t *testing.T) {
			dir := testshared.Require(t, "tokenizers/"+name)
			code, stdout, stderr := runProbesCLI("--tokenizer", dir, "--needles", filepath.Join(fixtures, "needles.jsonl"),
				"--haystack", haystack, "--lengths", "1000,2000,4000", "--depths", "0,25,50,75,100", "--buffer", "200",
				"--compat", "reference", "--input-ids")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := parseProbeLines(t, stdout)
			data, err := os.ReadFile(filepath.Join(fixtures, name+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(got) != len(lines) {
				t.Fatalf("%d probes, want %d", len(got), len(lines))
			}
			noSpan := 0
			for i, line := range lines {
				var want struct {
					InputIDs []int `json:"input_ids"`
					Span     []int `json:"span"`
					InsertAt int   `json:"insert_at"`
				}
				if err := json.Unmarshal([]byte(line), &want); err != nil {
					t.Fatal(err)
				}
				if want.Span[0] < 0 {
					noSpan++
				}
				r := got[i]
				if !slices.Equal(r.InputIDs, want.InputIDs) || !slices.Equal(r.Span, want.Span) || r.InsertAt != want.InsertAt {
					t.Errorf("probe %d: %d ids, span %v, insert_at %d; want %d ids, span %v, insert_at %d (ids equal: %v)",
						i, len(r.InputIDs), r.Span, r.InsertAt, len(want.InputIDs), want.Span, want.InsertAt, slices.Equal(r.InputIDs, want.InputIDs))
				}
			}
			if want := fmt.Sprintf("compat reference: %d without an answer span", noSpan); !strings.Contains(stderr, want) {
				t.Errorf("stderr %q does not say %q", stderr, want)
			}
		})
	}
}

func TestProbesLlama3(t *testing.T) {
	dir := testshared.Require(t, "tokenizers/llama3")
	code, stdout, stderr := runProbesCLI("--tokenizer", dir, "--lengths", "1000,2000", "--depths", "0,50,100", "--needles-count", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	recs := parseProbeLines(t, stdout)
	if len(recs) != 12 {
		t.Fatalf("%d lines, want 12", len(recs))
	}
	for _, r := range recs {
		// The reference's length: context length - buffer 200, plus the
		// question line (about 20-30 tokens).
		if r.Skipped || !strings.Contains(r.SpanText, r.Answer) || r.Tokens < r.ContextLength-200 || r.Tokens > r.ContextLength-140 {
			t.Errorf("index %d: %+v", r.Index, r)
		}
	}
}
