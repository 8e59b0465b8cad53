package needle

import "testing"

// skipTokenizer is byteTokenizer that can also decode without its special
// token (256, "<s>").
type skipTokenizer struct{ byteTokenizer }

func (skipTokenizer) DecodeSkipSpecial(ids []int) string {
	var kept []int
	for _, id := range ids {
		if id != 256 {
			kept = append(kept, id)
		}
	}
	return byteTokenizer{}.Decode(kept)
}

// countingTokenizer counts Decode calls, to see the memo work.
type countingTokenizer struct {
	byteTokenizer
	calls int
}

func (c *countingTokenizer) Decode(ids []int) string {
	c.calls++
	return c.byteTokenizer.Decode(ids)
}

func TestResponse(t *testing.T) {
	eos := func(id int) bool { return id == 0 }
	// " <s>Paris\x00 ": EOS dropped, white space trimmed; the special
	// token stays unless the tokenizer can skip it.
	ids := []int{' ', 256, 'P', 'a', 'r', 'i', 's', 0, ' '}
	if got := Response(byteTokenizer{}, ids, eos); got != "<s>Paris" {
		t.Errorf("Response(plain) = %q, want %q", got, "<s>Paris")
	}
	if got := Response(skipTokenizer{}, ids, eos); got != "Paris" {
		t.Errorf("Response(skip special) = %q, want %q", got, "Paris")
	}
	if got := Response(skipTokenizer{}, nil, eos); got != "" {
		t.Errorf("Response(nothing) = %q, want empty", got)
	}
}

func TestNewlineTokens(t *testing.T) {
	tok := &countingTokenizer{}
	nl := NewNewlineTokens(tok)
	for _, tt := range []struct {
		id   int
		want bool
	}{{'\n', true}, {'a', false}, {'\n', true}, {'a', false}, {256, false}} {
		if got := nl.Is(tt.id); got != tt.want {
			t.Errorf("Is(%d) = %v, want %v", tt.id, got, tt.want)
		}
	}
	if tok.calls != 3 { // '\n', 'a' and 256 once each
		t.Errorf("%d Decode calls, want 3 (one per distinct id)", tok.calls)
	}
}
