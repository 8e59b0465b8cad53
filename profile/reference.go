package profile

import (
	"strings"
	"unicode"

	"github.com/compresskv/compresskv/needle"
)

// referenceStopID is the one token id the reference's decode loop also
// stops at (`inp.item() == 144`), whatever the tokenizer.
const referenceStopID = 144

// referenceStop is the reference's stop test, run after the step is
// scored: the produced token's piece is the SentencePiece newline byte
// "<0x0A>", or its id is 144. It never stops at EOS, and byte-level BPE
// newlines ("Ċ", Llama 3's 198) never match, so Llama 3 probes decode all
// MaxNewTokens steps, as in the reference.
func referenceStop(tok needle.Tokenizer, id int) bool {
	if id == referenceStopID {
		return true
	}
	p, ok := tok.(interface{ Piece(id int) string })
	return ok && p.Piece(id) == "<0x0A>"
}

// stops reports whether greedy decoding ends after producing next: the
// reference's rule in Reference mode, else after EOS or a token whose text
// holds a newline.
func stops(opts Options, tok needle.Tokenizer, nl *needle.NewlineTokens, eos func(int) bool, next int) bool {
	if opts.Reference {
		return referenceStop(tok, next)
	}
	return eos(next) || nl.Is(next)
}

// decodeResponse is the reference's response text:
// decode(ids, skip_special_tokens=True).strip(), and, in reference mode,
// transformers' clean_up_tokenization_spaces when the tokenizer sets it.
func decodeResponse(tok needle.Tokenizer, ids []int, reference bool) string {
	var text string
	if sk, ok := tok.(interface{ DecodeSkipSpecial([]int) string }); ok {
		text = sk.DecodeSkipSpecial(ids)
	} else {
		text = tok.Decode(ids)
	}
	if !reference {
		return strings.TrimSpace(text)
	}
	if c, ok := tok.(interface{ CleanUpTokenizationSpaces() bool }); ok && c.CleanUpTokenizationSpaces() {
		text = needle.CleanUpTokenizationSpaces(text)
	}
	// Python's str.strip(): Unicode whitespace plus U+001C..U+001F.
	return strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f })
}
