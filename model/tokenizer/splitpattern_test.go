package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

const (
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// qwen2CasePattern spells the contractions' cases out instead of (?i:).
	qwen2CasePattern = `(?:'s|'S|'t|'T|'re|'RE|'ve|'VE|'m|'M|'ll|'LL|'d|'D)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

func splitWith(t *testing.T, pattern, s string) []string {
	t.Helper()
	p, err := compileSplitPattern(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	prev := 0
	p.find(s, func(start, end int) {
		if start != prev {
			t.Errorf("%q: gap %q left unmatched", s, s[prev:start])
		}
		out = append(out, s[start:end])
		prev = end
	})
	return out
}

// TestLlama3Split checks the hand scanner against splits derived from the
// regex's leftmost-first, backtracking semantics.
func TestLlama3Split(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		// \s+(?!\S): a whitespace run before a word gives its last char to
		// the word; at the end of the text it stays whole.
		{"  hello", []string{" ", " hello"}},
		{"a   b", []string{"a", "  ", " b"}},
		{"hello  ", []string{"hello", "  "}},
		{"   ", []string{"   "}},
		// \s*[\r\n]+ ends at the last newline of the run.
		{"a\r\n\nb", []string{"a", "\r\n\n", "b"}},
		{" \t\n x", []string{" \t\n", " x"}},
		{" \t\n ", []string{" \t\n", " "}},
		{"x!!!\n\ny", []string{"x", "!!!\n\n", "y"}},
		// \p{N}{1,3}: digits in groups of three from the left.
		{"1", []string{"1"}},
		{"12", []string{"12"}},
		{"123", []string{"123"}},
		{"1234", []string{"123", "4"}},
		{"12345", []string{"123", "45"}},
		{"123456", []string{"123", "456"}},
		{"1234567", []string{"123", "456", "7"}},
		{" 12", []string{" ", "12"}},
		{"x1", []string{"x", "1"}},
		// (?i:...) contractions in any case; a quote before other letters
		// joins them as the optional leading character.
		{"'S", []string{"'S"}},
		{"I'M", []string{"I", "'M"}},
		{"DON'T", []string{"DON", "'T"}},
		{"don't", []string{"don", "'t"}},
		{"'ll've", []string{"'ll", "'ve"}},
		{"'LL", []string{"'LL"}},
		{"'x", []string{"'x"}},
		{" 's", []string{" '", "s"}},
		{"a ,b", []string{"a", " ,", "b"}},
		// Emoji are neither letters nor numbers nor spaces.
		{"🦙🦙 ok", []string{"🦙🦙", " ok"}},
		{"🦙ok", []string{"🦙ok"}},
		// Accents: precomposed letters are \p{L}; a combining mark is not.
		{"café résumé", []string{"café", " résumé"}},
		{"cafe\u0301", []string{"cafe", "\u0301"}},
		{"日本語のテキスト、中文", []string{"日本語のテキスト", "、中文"}},
		// NBSP is whitespace but may lead a word like a space.
		{"a\u00a0b", []string{"a", "\u00a0b"}},
		{"a\u00a0\u00a0b", []string{"a", "\u00a0", "\u00a0b"}},
		{"a\tb", []string{"a", "\tb"}},
		{"\t\tx", []string{"\t", "\tx"}},
		{"a\x00b", []string{"a", "\x00b"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := splitWith(t, llama3Pattern, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestQwen2Split: single digits; the contractions are matched in both
// spellings of the pattern.
func TestQwen2Split(t *testing.T) {
	for _, pattern := range []string{qwen2Pattern, qwen2CasePattern} {
		for _, tt := range []struct {
			in   string
			want []string
		}{
			{"1234", []string{"1", "2", "3", "4"}},
			{"'S", []string{"'S"}},
			{"I'M ok", []string{"I", "'M", " ok"}},
			{"x 42\n\n", []string{"x", " ", "4", "2", "\n\n"}},
		} {
			if got := splitWith(t, pattern, tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
	// Case folding of (?i:) is Unicode's: 'ſ (long s) folds to 's.
	if got := splitWith(t, qwen2Pattern, "'ſ"); !slices.Equal(got, []string{"'ſ"}) {
		t.Errorf("split('ſ) = %q", got)
	}
}

// TestGPT2Split: the ByteLevel pre-tokenizer's pattern, case-sensitive
// contractions, unlimited digit runs and no newline rule.
func TestGPT2Split(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"I'M", []string{"I", "'", "M"}},
		{"it's", []string{"it", "'s"}},
		{"1234567 x", []string{"1234567", " x"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a\r\n\nb", []string{"a", "\r\n", "\n", "b"}},
		{"hi!? ", []string{"hi", "!?", " "}},
	} {
		if got := splitWith(t, gpt2Pattern, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnsupportedPatterns(t *testing.T) {
	for _, p := range []string{`\w+|[^\w\s]+`, `(?i:'s|'t`, `'s|[a-z]+`, `\p{L}++`, ``, `a)|(b`} {
		if _, err := compileSplitPattern(p); err == nil || !strings.Contains(err.Error(), "unsupported Split pattern") {
			t.Errorf("compile(%q): %v", p, err)
		}
	}
}

// TestSplitBehaviors checks the five SplitDelimiterBehavior rules and
// invert on the literal pattern "-".
func TestSplitBehaviors(t *testing.T) {
	const s = "a-b--c-"
	tests := []struct {
		b      behavior
		invert bool
		want   []string
	}{
		{isolated, false, []string{"a", "-", "b", "-", "-", "c", "-"}},
		{removed, false, []string{"a", "b", "c"}},
		{mergedWithPrevious, false, []string{"a-", "b-", "-", "c-"}},
		{mergedWithNext, false, []string{"a", "-b", "-", "-c", "-"}},
		{contiguous, false, []string{"a", "-", "b", "--", "c", "-"}},
		// invert: the text between dashes is the "match" and is removed;
		// each dash stays its own piece.
		{removed, true, []string{"-", "-", "-", "-"}},
	}
	for _, tt := range tests {
		p := &splitPreTokenizer{find: findLiteral("-"), behavior: tt.b, invert: tt.invert}
		var got []string
		for _, w := range p.preTokenize([]word{{text: s, first: true}}) {
			got = append(got, w.text)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("behavior %d invert %v: %q, want %q", tt.b, tt.invert, got, tt.want)
		}
	}
}

// TestMetaspaceAndDigits checks the Metaspace pre-tokenizer and decoder and
// the Digits pre-tokenizer.
func TestMetaspaceAndDigits(t *testing.T) {
	texts := func(ws []word) []string {
		var out []string
		for _, w := range ws {
			out = append(out, w.text)
		}
		return out
	}
	ms := &metaspacePreTokenizer{replacement: '▁', scheme: prependAlways, split: true}
	if got, want := texts(ms.preTokenize([]word{{text: "Hey  friend!", first: true}})), []string{"▁Hey", "▁", "▁friend!"}; !slices.Equal(got, want) {
		t.Errorf("metaspace always: %q, want %q", got, want)
	}
	// "first": only a word at the start of the text gets the prefix.
	first := &metaspacePreTokenizer{replacement: '▁', scheme: prependFirst, split: false}
	if got, want := texts(first.preTokenize([]word{{text: "a b", first: true}, {text: "c", first: false}})), []string{"▁a▁b", "c"}; !slices.Equal(got, want) {
		t.Errorf("metaspace first: %q, want %q", got, want)
	}
	// The decoder drops every "▁" of the first piece (the library's rule)
	// unless the scheme is never.
	dec := metaspaceDecoder{replacement: '▁', scheme: prependAlways}
	if got, want := dec.decodeChain([]string{"▁Hey", "▁friend!"}), []string{"Hey", " friend!"}; !slices.Equal(got, want) {
		t.Errorf("metaspace decode: %q, want %q", got, want)
	}
	never := metaspaceDecoder{replacement: '▁', scheme: prependNever}
	if got, want := never.decodeChain([]string{"▁Hey"}), []string{" Hey"}; !slices.Equal(got, want) {
		t.Errorf("metaspace never decode: %q, want %q", got, want)
	}
	d := &digitsPreTokenizer{individual: false}
	if got, want := texts(d.preTokenize([]word{{text: "Hey 123 friend!"}})), []string{"Hey ", "123", " friend!"}; !slices.Equal(got, want) {
		t.Errorf("digits: %q, want %q", got, want)
	}
	d.individual = true
	if got, want := texts(d.preTokenize([]word{{text: "Hey 123 friend!"}})), []string{"Hey ", "1", "2", "3", " friend!"}; !slices.Equal(got, want) {
		t.Errorf("individual digits: %q, want %q", got, want)
	}
	st := stripDecoder{content: ' ', start: 1, stop: 2}
	if got, want := st.decodeChain([]string{"  a  ", " ", ""}), []string{" a", "", ""}; !slices.Equal(got, want) {
		t.Errorf("strip: %q, want %q", got, want)
	}
}
