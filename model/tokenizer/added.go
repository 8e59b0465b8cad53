package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	id                               int
	content                          string
	singleWord, lstrip, rstrip, norm bool
	special                          bool
}

// addedMatcher finds added tokens in text, leftmost-longest (the library's
// Aho-Corasick MatchKind::LeftmostLongest), honouring single_word, lstrip
// and rstrip.
type addedMatcher struct {
	first   [256]bool           // bytes that start some pattern
	byFirst [256][]patternToken // candidates per first byte, longest first
}

type patternToken struct {
	pattern string
	tok     *addedToken
}

func newAddedMatcher(tokens []patternToken) *addedMatcher {
	if len(tokens) == 0 {
		return nil
	}
	m := &addedMatcher{}
	for _, t := range tokens {
		if t.pattern == "" {
			continue
		}
		c := t.pattern[0]
		m.first[c] = true
		m.byFirst[c] = append(m.byFirst[c], t)
	}
	for c := range m.byFirst {
		sort.SliceStable(m.byFirst[c], func(i, j int) bool {
			return len(m.byFirst[c][i].pattern) > len(m.byFirst[c][j].pattern)
		})
	}
	return m
}

// segment is a piece of text, or an added token (id >= 0) cut out of it.
type segment struct {
	text  string
	id    int
	start int // byte offset in the text that was split
}

// split cuts s into text segments and added-token segments covering all of
// s (empty text segments are dropped).
func (m *addedMatcher) split(s string, out []segment) []segment {
	if m == nil {
		if s != "" {
			out = append(out, segment{text: s, id: -1})
		}
		return out
	}
	done := 0 // end of the last emitted segment
	for i := 0; i < len(s); {
		if !m.first[s[i]] {
			i++
			continue
		}
		var hit *patternToken
		for k := range m.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], m.byFirst[s[i]][k].pattern) {
				hit = &m.byFirst[s[i]][k]
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		start, stop := i, i+len(hit.pattern)
		i = stop // the automaton resumes after the match, whatever is stripped
		tok := hit.tok
		if tok.singleWord && (endsWithWord(s[:start]) || startsWithWord(s[stop:])) {
			continue
		}
		if tok.lstrip {
			start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), done)
		}
		if tok.rstrip {
			stop += len(s[stop:]) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
		}
		if start < done { // an rstrip already took these bytes
			start = done
		}
		if done < start {
			out = append(out, segment{text: s[done:start], id: -1, start: done})
		}
		out = append(out, segment{text: s[start:stop], id: tok.id, start: start})
		done = stop
		if i < done {
			i = done
		}
	}
	if done < len(s) {
		out = append(out, segment{text: s[done:], id: -1, start: done})
	}
	return out
}

// isWordRune is regex \w: letters, marks, decimal digits, connector
// punctuation (the underscore) and joiners.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) ||
		unicode.Is(unicode.Pc, r) || r == '\u200C' || r == '\u200D'
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordRune(r)
}
