package tokenizer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decoder turns the pieces of a decoded sequence into text, step by step
// (the library's decode_chain): each step maps a list of strings to a list
// of strings, and the final list is concatenated.
type decoder interface {
	decodeChain(tokens []string) []string
}

// decoderSequence applies its decoders in order.
type decoderSequence []decoder

func (q decoderSequence) decodeChain(tokens []string) []string {
	for _, d := range q {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}

// byteLevelDecoder maps GPT-2 characters back to bytes; a piece holding a
// character outside the table keeps its own UTF-8 bytes. Invalid UTF-8 in
// the result becomes U+FFFD (Rust's from_utf8_lossy).
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(tokens []string) []string {
	var buf []byte
	for _, t := range tokens {
		start := len(buf)
		for _, r := range t {
			b, ok := runeToByte[r]
			if !ok {
				buf = append(buf[:start], t...)
				break
			}
			buf = append(buf, b)
		}
	}
	return []string{lossyUTF8(buf)}
}

// replaceDecoder is Replace with a literal pattern, piece by piece.
type replaceDecoder struct{ pattern, content string }

func (r replaceDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		if r.pattern == "" {
			out[i] = t
			continue
		}
		out[i] = strings.ReplaceAll(t, r.pattern, r.content)
	}
	return out
}

// byteFallbackDecoder joins runs of <0xXX> pieces into their bytes; a run
// that is not valid UTF-8 becomes one U+FFFD per byte.
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := fallbackByte(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// fallbackByte parses a "<0xXX>" piece.
func fallbackByte(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(t[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

// fuseDecoder joins all pieces into one.
type fuseDecoder struct{}

func (fuseDecoder) decodeChain(tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

// stripDecoder removes up to start leading and stop trailing copies of
// content from every piece (after Fuse: from the whole text).
type stripDecoder struct {
	content     rune
	start, stop int
}

func (st stripDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		runes := []rune(t)
		lo := 0
		for lo < st.start && lo < len(runes) && runes[lo] == st.content {
			lo++
		}
		hi := len(runes)
		for k := 0; k < st.stop && hi > lo && runes[hi-1] == st.content; k++ {
			hi--
		}
		out[i] = string(runes[lo:hi])
	}
	return out
}

// metaspaceDecoder turns the replacement character back into spaces; in
// the first piece every replacement character is dropped unless the
// prepend scheme is "never" (the library's rule, not only the leading one).
type metaspaceDecoder struct {
	replacement rune
	scheme      prependScheme
}

func (d metaspaceDecoder) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		var b strings.Builder
		for _, r := range t {
			switch {
			case r != d.replacement:
				b.WriteRune(r)
			case i == 0 && d.scheme != prependNever:
			default:
				b.WriteByte(' ')
			}
		}
		out[i] = b.String()
	}
	return out
}
