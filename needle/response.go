package needle

import "strings"

// NewlineTokens remembers which token ids decode to text with a newline:
// the reference stops generating at the first one, so every decode loop
// asks this once per generated token. Not safe for concurrent use.
type NewlineTokens struct {
	tok   Tokenizer
	known map[int]bool
}

// NewNewlineTokens returns an empty memo over tok.
func NewNewlineTokens(tok Tokenizer) *NewlineTokens {
	return &NewlineTokens{tok: tok, known: map[int]bool{}}
}

// Is reports whether id decodes to text containing a newline.
func (n *NewlineTokens) Is(id int) bool {
	v, ok := n.known[id]
	if !ok {
		v = strings.Contains(n.tok.Decode([]int{id}), "\n")
		n.known[id] = v
	}
	return v
}

// Response is the text a generation is scored by: the generated ids less
// the end-of-sequence ones, decoded without special tokens where the
// tokenizer can (the reference decodes with skip_special_tokens=True), and
// trimmed of surrounding white space.
func Response(tok Tokenizer, ids []int, eos func(id int) bool) string {
	text := make([]int, 0, len(ids))
	for _, id := range ids {
		if !eos(id) {
			text = append(text, id)
		}
	}
	if sk, ok := tok.(interface{ DecodeSkipSpecial([]int) string }); ok {
		return strings.TrimSpace(sk.DecodeSkipSpecial(text))
	}
	return strings.TrimSpace(tok.Decode(text))
}
