package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// word is one piece of text on its way to the model. first is true while
// the piece starts at offset 0 of the original text (Metaspace's "first"
// prepend scheme looks at it).
type word struct {
	text  string
	first bool
}

// preTokenizer splits words into smaller words.
type preTokenizer interface {
	preTokenize(in []word) []word
}

// span is a piece of a word as the library's Pattern::find_matches reports
// it: every byte of the word is covered, matches and the gaps between them.
type span struct {
	start, end int
	match      bool
}

// behavior is a SplitDelimiterBehavior: what happens to the matches.
type behavior int

const (
	isolated behavior = iota
	removed
	mergedWithPrevious
	mergedWithNext
	contiguous
)

// splitSpans applies a behavior to the spans of s and appends the
// resulting non-empty words to out.
func splitSpans(out []word, w word, spans []span, b behavior) []word {
	type piece struct {
		start, end int
		remove     bool
	}
	pieces := make([]piece, 0, len(spans))
	switch b {
	case isolated:
		for _, sp := range spans {
			pieces = append(pieces, piece{sp.start, sp.end, false})
		}
	case removed:
		for _, sp := range spans {
			pieces = append(pieces, piece{sp.start, sp.end, sp.match})
		}
	case contiguous:
		prev := false
		for _, sp := range spans {
			if sp.match == prev && len(pieces) > 0 {
				pieces[len(pieces)-1].end = sp.end
			} else {
				pieces = append(pieces, piece{sp.start, sp.end, false})
			}
			prev = sp.match
		}
	case mergedWithPrevious:
		prev := false
		for _, sp := range spans {
			if sp.match && !prev && len(pieces) > 0 {
				pieces[len(pieces)-1].end = sp.end
			} else {
				pieces = append(pieces, piece{sp.start, sp.end, false})
			}
			prev = sp.match
		}
	case mergedWithNext:
		// Walk backwards: a match joins the piece that follows it.
		prev := false
		for k := len(spans) - 1; k >= 0; k-- {
			sp := spans[k]
			if sp.match && !prev && len(pieces) > 0 {
				pieces[len(pieces)-1].start = sp.start
			} else {
				pieces = append(pieces, piece{sp.start, sp.end, false})
			}
			prev = sp.match
		}
		for i, j := 0, len(pieces)-1; i < j; i, j = i+1, j-1 {
			pieces[i], pieces[j] = pieces[j], pieces[i]
		}
	}
	for _, p := range pieces {
		if p.remove || p.end <= p.start {
			continue
		}
		out = append(out, word{text: w.text[p.start:p.end], first: w.first && p.start == 0})
	}
	return out
}

// spansOf turns the matches found in s into spans covering all of s.
func spansOf(s string, find func(s string, emit func(start, end int)), invert bool, buf []span) []span {
	buf = buf[:0]
	prev := 0
	find(s, func(start, end int) {
		if prev < start {
			buf = append(buf, span{prev, start, invert})
		}
		buf = append(buf, span{start, end, !invert})
		prev = end
	})
	if prev < len(s) {
		buf = append(buf, span{prev, len(s), invert})
	}
	return buf
}

// findRunes reports every rune for which is returns true as its own match,
// as the library's char-predicate pattern does.
func findRunes(is func(rune) bool) func(s string, emit func(start, end int)) {
	return func(s string, emit func(start, end int)) {
		for i, r := range s {
			if is(r) {
				emit(i, i+utf8.RuneLen(r))
			}
		}
	}
}

// findLiteral reports the non-overlapping occurrences of lit.
func findLiteral(lit string) func(s string, emit func(start, end int)) {
	return func(s string, emit func(start, end int)) {
		if lit == "" {
			return
		}
		for i := 0; i < len(s); {
			k := strings.Index(s[i:], lit)
			if k < 0 {
				return
			}
			emit(i+k, i+k+len(lit))
			i += k + len(lit)
		}
	}
}

// preTokenizerSequence applies its pre-tokenizers in order.
type preTokenizerSequence []preTokenizer

func (q preTokenizerSequence) preTokenize(in []word) []word {
	for _, p := range q {
		in = p.preTokenize(in)
	}
	return in
}

// splitPreTokenizer is Split: a pattern, a behavior for its matches, and
// invert (the gaps become the matches).
type splitPreTokenizer struct {
	find     func(s string, emit func(start, end int))
	behavior behavior
	invert   bool
}

func (p *splitPreTokenizer) preTokenize(in []word) []word {
	out := make([]word, 0, len(in)*4)
	var spans []span
	for _, w := range in {
		spans = spansOf(w.text, p.find, p.invert, spans)
		out = splitSpans(out, w, spans, p.behavior)
	}
	return out
}

// byteLevelPreTokenizer is ByteLevel: optionally a leading space and the
// GPT-2 split, then every byte mapped to its printable GPT-2 character.
type byteLevelPreTokenizer struct {
	addPrefixSpace bool
	split          *splitPattern // nil when use_regex is false
}

func (p *byteLevelPreTokenizer) preTokenize(in []word) []word {
	out := make([]word, 0, len(in)*2)
	var spans []span
	var buf []byte
	for _, w := range in {
		// add_prefix_space applies to every word that does not start with
		// a space, not only the first one.
		if p.addPrefixSpace && !strings.HasPrefix(w.text, " ") {
			w.text = " " + w.text
		}
		start := len(out)
		if p.split != nil {
			spans = spansOf(w.text, p.split.find, false, spans)
			out = splitSpans(out, w, spans, isolated)
		} else if w.text != "" {
			out = append(out, w)
		}
		for k := start; k < len(out); k++ {
			buf = byteLevelMap(buf[:0], out[k].text)
			out[k].text = string(buf)
		}
	}
	return out
}

// prependScheme is when Metaspace adds the replacement before a word.
type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

// metaspacePreTokenizer is Metaspace: spaces become the replacement
// character ("▁"), which is prepended per the scheme, and the text is split
// before each replacement character when split is set.
type metaspacePreTokenizer struct {
	replacement rune
	scheme      prependScheme
	split       bool
}

func (p *metaspacePreTokenizer) preTokenize(in []word) []word {
	rep := string(p.replacement)
	out := make([]word, 0, len(in)*4)
	var spans []span
	for _, w := range in {
		w.text = strings.ReplaceAll(w.text, " ", rep)
		if w.text != "" && !strings.HasPrefix(w.text, rep) {
			if p.scheme == prependAlways || (p.scheme == prependFirst && w.first) {
				w.text = rep + w.text
			}
		}
		if !p.split {
			if w.text != "" {
				out = append(out, w)
			}
			continue
		}
		spans = spansOf(w.text, findRunes(func(r rune) bool { return r == p.replacement }), false, spans)
		out = splitSpans(out, w, spans, mergedWithNext)
	}
	return out
}

// digitsPreTokenizer is Digits: numeric characters (Rust's
// char::is_numeric, i.e. \p{N}) split off, one by one or as runs.
type digitsPreTokenizer struct{ individual bool }

func (p *digitsPreTokenizer) preTokenize(in []word) []word {
	b := contiguous
	if p.individual {
		b = isolated
	}
	out := make([]word, 0, len(in)*2)
	var spans []span
	for _, w := range in {
		spans = spansOf(w.text, findRunes(unicode.IsNumber), false, spans)
		out = splitSpans(out, w, spans, b)
	}
	return out
}

// whitespaceSplitPreTokenizer is WhitespaceSplit: split on whitespace,
// dropping it.
type whitespaceSplitPreTokenizer struct{}

func (whitespaceSplitPreTokenizer) preTokenize(in []word) []word {
	out := make([]word, 0, len(in)*4)
	var spans []span
	for _, w := range in {
		spans = spansOf(w.text, findRunes(unicode.IsSpace), false, spans)
		out = splitSpans(out, w, spans, removed)
	}
	return out
}
