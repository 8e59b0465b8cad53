package calibrate

import (
	"os"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model/tokenizer"
)

// fieldTokenizer: one id per whitespace-separated word, id 0 the BOS that
// Encode adds with special tokens; DecodeSkipSpecial joins words by spaces.
type fieldTokenizer struct {
	ids     map[string]int
	words   []string
	cleanUp bool
}

func newFieldTokenizer(cleanUp bool) *fieldTokenizer {
	return &fieldTokenizer{ids: map[string]int{"<s>": 0}, words: []string{"<s>"}, cleanUp: cleanUp}
}

func (f *fieldTokenizer) Encode(text string, addSpecial bool) []int {
	var out []int
	if addSpecial {
		out = append(out, 0)
	}
	for _, w := range strings.Fields(text) {
		id, ok := f.ids[w]
		if !ok {
			id = len(f.words)
			f.ids[w] = id
			f.words = append(f.words, w)
		}
		out = append(out, id)
	}
	return out
}

func (f *fieldTokenizer) DecodeSkipSpecial(ids []int) string {
	var words []string
	for _, id := range ids {
		if id != 0 {
			words = append(words, f.words[id])
		}
	}
	return strings.Join(words, " ")
}

func (f *fieldTokenizer) CleanUpTokenizationSpaces() bool { return f.cleanUp }

// TestTruncateReference: the ids of "a b c d e f g" with BOS are 8; at a
// maximum of 5 the text becomes decode(first 2) + decode(last 2), special
// tokens skipped and the halves joined without a space, as the reference's
// Python does.
func TestTruncateReference(t *testing.T) {
	tok := newFieldTokenizer(false)
	tests := []struct {
		text string
		max  int
		want string
	}{
		{"a b c d e f g", 8, "a b c d e f g"}, // fits: unchanged
		{"a b c d e f g", 7, "a be f g"},      // half 3: <s> a b | e f g
		{"a b c d e f g", 5, "af g"},          // half 2: <s> a | f g
	}
	for _, tt := range tests {
		if got := TruncateReference(tok, tt.text, tt.max); got != tt.want {
			t.Errorf("TruncateReference(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
		}
	}
	// clean_up_tokenization_spaces applies to each decoded half.
	if got, want := TruncateReference(newFieldTokenizer(true), "a , b c d e .", 6), "a,d e."; got != want {
		t.Errorf("with clean-up: %q, want %q", got, want)
	}
}

func TestReferenceMaxLength(t *testing.T) {
	for family, want := range map[string]int{"mistral": 31500, "llama": 127500, "qwen2": 127500} {
		if got, err := ReferenceMaxLength(family); got != want || err != nil {
			t.Errorf("ReferenceMaxLength(%s) = %d, %v, want %d", family, got, err, want)
		}
	}
	if _, err := ReferenceMaxLength("gpt2"); err == nil {
		t.Error("ReferenceMaxLength(gpt2) = nil error")
	}
}

// TestTruncateReferenceShared: on the real Llama 3 and Mistral tokenizers a
// 20,000-character passage cut at 1000 tokens keeps the passage's start and
// end, and re-encodes to about 1000 ids (the halves re-tokenise at their
// seam).
func TestTruncateReferenceShared(t *testing.T) {
	data, err := os.ReadFile(testshared.Require(t, "haystack/war-and-peace.txt"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data[:20000])
	for _, name := range []string{"llama3", "mistral"} {
		tok, err := tokenizer.Load(testshared.Require(t, "tokenizers/"+name))
		if err != nil {
			t.Fatal(err)
		}
		got := TruncateReference(tok, text, 1000)
		if n := len(tok.Encode(got, true)); n < 995 || n > 1005 {
			t.Errorf("%s: truncated text encodes to %d ids, want about 1000", name, n)
		}
		if !strings.HasPrefix(got, text[:200]) || !strings.HasSuffix(got, text[len(text)-200:]) {
			t.Errorf("%s: truncated text %q ... %q does not keep the passage's start and end", name, got[:60], got[len(got)-60:])
		}
	}
}
