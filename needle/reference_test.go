package needle

import (
	"slices"
	"strings"
	"testing"
)

// cleaningTokenizer is wordTokenizer with clean_up_tokenization_spaces set.
type cleaningTokenizer struct{ *wordTokenizer }

func (cleaningTokenizer) CleanUpTokenizationSpaces() bool { return true }

// words maps words to the test tokenizer's ids.
func (w *wordTokenizer) words2ids(text string) []int {
	var ids []int
	for _, f := range strings.Fields(text) {
		ids = append(ids, w.id(f))
	}
	return ids
}

// TestBuildReferenceByHand follows the reference's steps on the word
// tokenizer (whose BOS "<s>" decodes to a word that encodes back to BOS, as
// real tokenizers do), computed by hand:
//
//	haystack "a b. c d." (4 words) repeated to >= 12 words: 4 copies, the
//	  copies joined without a space ("d.a"), 13 words;
//	encode with BOS: 25 ids > 12, so the text becomes decode(ids[:12]) =
//	  "<s> a b . c d . a b . c d";
//	context = encode(that, BOS) = <s> <s> a b . c d . a b . c d (13 ids);
//	needle = encode("N1 N2.", BOS) = <s> N1 N2 . (4 ids);
//	13 + 4 > 12 - buffer 2, so the context is cut to 10 - 4 = 6 ids:
//	  <s> <s> a b . c;
//	periods = encode(".", BOS) = {<s>, .}.
func TestBuildReferenceByHand(t *testing.T) {
	tok := newWordTokenizer()
	raw, err := TemplateFor("raw")
	if err != nil {
		t.Fatal(err)
	}
	needles := []Needle{
		{ID: "n", Needle: "N1 N2.", Question: "Q?", Answer: "N1 N2"},
		// The answer's case differs from the needle's: the reference's rule
		// finds no span, and the probe is still emitted with [-1, -1].
		{ID: "m", Needle: "M1 M2.", Question: "Q?", Answer: "m1 m2"},
	}
	s := Settings{Grid: Grid{ContextLengths: []int{12}, Depths: []float64{0, 50, 100}, Buffer: 2}, Template: raw, AddSpecial: true, Compat: CompatReference}
	probes, skips, err := Build(tok, "a b. c d.", needles, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 6 || len(skips) != 0 {
		t.Fatalf("%d probes, %d skips; want 6 probes", len(probes), len(skips))
	}
	tests := []struct {
		context  string // decoded context ids, before the question
		insertAt int
		span     [2]int
	}{
		// depth 0: the needle (with its BOS) first.
		{"<s> N1 N2 . <s> <s> a b . c", 0, [2]int{2, 4}},
		// depth 50: int(6 * 0.5) = 3; the token before 3 is "a", before 2 is
		// the second BOS, a period token: the needle goes at 2.
		{"<s> <s> <s> N1 N2 . a b . c", 2, [2]int{4, 6}},
		// depth 100: appended after the cut text "... c".
		{"<s> <s> a b . c <s> N1 N2 .", 6, [2]int{8, 10}},
	}
	for i, p := range probes {
		tt := tests[i%3]
		n := needles[i/3]
		ctx := strings.ReplaceAll(tt.context, "N1 N2", strings.ReplaceAll(n.Needle, ".", ""))
		wantPrompt := ctx + "Based on the content of the book, Question: Q?\nAnswer:"
		if p.Prompt != wantPrompt {
			t.Errorf("probe %d: prompt %q, want %q", i, p.Prompt, wantPrompt)
		}
		// Prompt ids: BOS, then the context's words up to its last, which
		// the word tokenizer fuses with "Based".
		words := strings.Fields(ctx)
		want := append([]int{0}, tok.words2ids(strings.Join(words[:len(words)-1], " "))...)
		if !slices.Equal(p.IDs[:len(want)], want) || !slices.Equal(p.IDs, tok.Encode(wantPrompt, true)) {
			t.Errorf("probe %d: ids %v, want %v then the rest of the prompt", i, p.IDs, want)
		}
		if p.InsertAt != tt.insertAt {
			t.Errorf("probe %d: insertion point %d, want %d", i, p.InsertAt, tt.insertAt)
		}
		wantSpan := tt.span
		if n.ID == "m" {
			wantSpan = [2]int{-1, -1}
		}
		if got := [2]int{p.SpanStart, p.SpanEnd}; got != wantSpan {
			t.Errorf("probe %d: span %v, want %v", i, got, wantSpan)
		}
	}

	// The default construction finds the case-differing answer.
	s.Compat = CompatNone
	probes, skips, err = Build(tok, "a b. c d.", needles, Settings{Grid: Grid{ContextLengths: []int{40}, Depths: []float64{0, 50, 100}, Buffer: 2}, Template: raw, AddSpecial: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 6 || len(skips) != 0 {
		t.Fatalf("default mode: %d probes, skips %+v; want 6 probes", len(probes), skips)
	}
	for _, p := range probes[3:] {
		if got := tok.Decode(p.IDs[p.SpanStart:p.SpanEnd]); got != "M1 M2" {
			t.Errorf("default mode, depth %v: span decodes to %q, want \"M1 M2\"", p.Depth, got)
		}
	}
}

// TestBuildReferenceNewlines: the haystack's CRLF and CR line ends are
// read as "\n", as Python's text mode reads them.
func TestBuildReferenceNewlines(t *testing.T) {
	raw, _ := TemplateFor("raw")
	needles := []Needle{{ID: "n", Needle: "N1 N2.", Question: "Q?", Answer: "N1 N2"}}
	s := Settings{Grid: Grid{ContextLengths: []int{40}, Depths: []float64{100}, Buffer: 2}, Template: raw, AddSpecial: true, Compat: CompatReference}
	var got [2]Probe
	for i, hay := range []string{"a b.\r\nc d.\re f.", "a b.\nc d.\ne f."} {
		probes, _, err := Build(byteTokenizer{}, hay, needles, s)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = probes[0]
	}
	if !slices.Equal(got[0].IDs, got[1].IDs) || strings.Contains(got[0].Prompt, "\r") {
		t.Errorf("CRLF haystack gives prompt %q, LF haystack %q", got[0].Prompt, got[1].Prompt)
	}
}

// byteTokenizer: one id per byte, BOS 256 (decoded "<s>", which encodes
// back to 256).
type byteTokenizer struct{}

func (byteTokenizer) Encode(text string, addSpecial bool) []int {
	var ids []int
	if addSpecial {
		ids = append(ids, 256)
	}
	for len(text) > 0 {
		if strings.HasPrefix(text, "<s>") {
			ids, text = append(ids, 256), text[3:]
			continue
		}
		ids, text = append(ids, int(text[0])), text[1:]
	}
	return ids
}

func (byteTokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		if id == 256 {
			b.WriteString("<s>")
		} else {
			b.WriteByte(byte(id))
		}
	}
	return b.String()
}

// TestBuildReferenceCleanUp: with clean_up_tokenization_spaces, every
// decode removes the space before punctuation, as transformers' does.
func TestBuildReferenceCleanUp(t *testing.T) {
	tok := cleaningTokenizer{newWordTokenizer()}
	raw, _ := TemplateFor("raw")
	needles := []Needle{{ID: "n", Needle: "N1 N2.", Question: "Q?", Answer: "N1 N2"}}
	s := Settings{Grid: Grid{ContextLengths: []int{12}, Depths: []float64{50}, Buffer: 2}, Template: raw, AddSpecial: true, Compat: CompatReference}
	probes, _, err := Build(tok, "a b. c d.", needles, s)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<s> <s> <s> N1 N2. a b. cBased on the content of the book, Question: Q?\nAnswer:"; probes[0].Prompt != want {
		t.Errorf("prompt %q, want %q", probes[0].Prompt, want)
	}
}

func TestBuildReferenceRefuses(t *testing.T) {
	tok := newWordTokenizer()
	needles := []Needle{{ID: "n", Needle: "N1 N2.", Question: "Q?", Answer: "N1 N2"}}
	raw, _ := TemplateFor("raw")
	prefix, _ := TemplateFor("answer-prefix")
	grid := Grid{ContextLengths: []int{12}, Depths: []float64{50}, Buffer: 2}
	for _, s := range []Settings{
		{Grid: grid, Template: prefix, AddSpecial: true, Compat: CompatReference},
		{Grid: grid, Template: raw, AddSpecial: false, Compat: CompatReference},
		{Grid: grid, Template: raw, AddSpecial: true, Compat: "exact"},
	} {
		if _, _, err := Build(tok, "a b. c d.", needles, s); err == nil {
			t.Errorf("Build(%+v) = nil error, want a refusal", s)
		}
	}
}

func TestCleanUpTokenizationSpaces(t *testing.T) {
	got := CleanUpTokenizationSpaces("Hello , world ! I 'm here . Do n't ask ? We 're sure , it 's a ' quote ' and they 've gone")
	want := "Hello, world! I'm here. Don't ask? We're sure, it's a'quote'and they've gone"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestRepeatToWords(t *testing.T) {
	tests := []struct {
		text  string
		words int
		want  string
	}{
		{"a b", 2, "a b"},
		// Copies join their edge words: "a ba ba ba b" has 5 words.
		{"a b", 5, "a ba ba ba b"},
		{"a b ", 5, "a b a b a b "},
		{" a b", 5, " a b a b a b"},
		{"x", 1, "x"},
		// Python's str.split also splits at U+001C..U+001F.
		{"a\x1fb\x1f", 4, "a\x1fb\x1fa\x1fb\x1f"},
	}
	for _, tt := range tests {
		if got, err := repeatToWords(tt.text, tt.words); got != tt.want || err != nil {
			t.Errorf("repeatToWords(%q, %d) = %q, %v, want %q", tt.text, tt.words, got, err, tt.want)
		}
	}
	// One word without whitespace never grows (the reference loops forever).
	if _, err := repeatToWords("x", 3); err == nil {
		t.Error("repeatToWords(x, 3) = nil error")
	}
}

func TestPythonStop(t *testing.T) {
	for _, tt := range []struct{ stop, n, want int }{{3, 5, 3}, {7, 5, 5}, {0, 5, 0}, {-2, 5, 3}, {-9, 5, 0}} {
		if got := pythonStop(tt.stop, tt.n); got != tt.want {
			t.Errorf("pythonStop(%d, %d) = %d, want %d", tt.stop, tt.n, got, tt.want)
		}
	}
}

func TestReferenceSpan(t *testing.T) {
	tests := []struct {
		prompt, answer []int
		want           [2]int
	}{
		{[]int{1, 2, 3, 4}, []int{2, 3}, [2]int{1, 3}},
		// The set rule from 0: a window starting one early already covers
		// all of a two-id answer whose ids repeat.
		{[]int{5, 1, 1, 2}, []int{1, 1, 2}, [2]int{1, 4}},
		{[]int{9, 9, 1}, []int{1}, [2]int{2, 3}},
		{[]int{9, 9, 1, 2}, []int{1, 2, 1}, [2]int{1, 4}},
		// A window cut short by the end of the prompt counts (Python
		// slice), which matters only for a prompt shorter than the answer;
		// its end is clamped to the prompt.
		{[]int{2, 1}, []int{1, 1, 2}, [2]int{0, 2}},
		{[]int{9, 9}, []int{1}, [2]int{-1, -1}},
	}
	for _, tt := range tests {
		s, e := referenceSpan(tt.prompt, tt.answer)
		if [2]int{s, e} != tt.want {
			t.Errorf("referenceSpan(%v, %v) = [%d,%d), want %v", tt.prompt, tt.answer, s, e, tt.want)
		}
	}
}

func TestParseCompat(t *testing.T) {
	for in, want := range map[string]Compat{"": CompatNone, "none": CompatNone, "Reference": CompatReference} {
		if got, err := ParseCompat(in); err != nil || got != want {
			t.Errorf("ParseCompat(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := ParseCompat("exact"); err == nil {
		t.Error("ParseCompat(exact) = nil error")
	}
}
