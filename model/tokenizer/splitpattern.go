package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// splitPattern is a hand-written scanner for the pre-tokenizer regexes that
// GPT-2, Llama 3 and Qwen2 ship. Go's regexp cannot run them (they use the
// lookahead \s+(?!\S)), so the pattern string is cut into its top-level
// alternatives and each alternative is recognised and matched by code that
// reproduces the regex engine's backtracking. Alternatives are tried in
// order at each position (leftmost-first), as Oniguruma does.
type splitPattern struct {
	source   string
	branches []branch
}

// branch matches one alternative at byte offset i of s and returns the end
// of the match, or -1 when the alternative does not match there.
type branch func(s string, i int) int

// Character classes of the patterns: \p{L}, \p{N} and \s (Unicode
// White_Space, which is what Oniguruma and Rust's regex use).
const (
	classL = 1 << iota
	classN
	classS
)

var asciiClass [utf8.RuneSelf]uint8

func init() {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		asciiClass[r] = classOfSlow(r)
	}
}

func classOfSlow(r rune) uint8 {
	var c uint8
	if unicode.IsLetter(r) {
		c |= classL
	}
	if unicode.IsNumber(r) {
		c |= classN
	}
	if unicode.IsSpace(r) {
		c |= classS
	}
	return c
}

// runeClass decodes the rune at s[i:] and returns its classes and width.
func runeClass(s string, i int) (r rune, class uint8, width int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), asciiClass[c], 1
	}
	r, width = utf8.DecodeRuneInString(s[i:])
	return r, classOfSlow(r), width
}

// knownBranches maps every alternative the shipped patterns use to its
// matcher.
var knownBranches = map[string]branch{
	`[^\r\n\p{L}\p{N}]?\p{L}+`:  matchOptNonLetterThenLetters,
	` ?\p{L}+`:                  matchOptSpaceThen(classL),
	` ?\p{N}+`:                  matchOptSpaceThen(classN),
	`\p{L}+`:                    matchRun(classL, 0),
	`\p{N}+`:                    matchRun(classN, 0),
	`\p{N}{1,3}`:                matchRun(classN, 3),
	`\p{N}`:                     matchRun(classN, 1),
	` ?[^\s\p{L}\p{N}]+[\r\n]*`: matchPunct(true, true),
	` ?[^\s\p{L}\p{N}]+`:        matchPunct(true, false),
	`[^\s\p{L}\p{N}]+[\r\n]*`:   matchPunct(false, true),
	`[^\s\p{L}\p{N}]+`:          matchPunct(false, false),
	`\s*[\r\n]+`:                matchSpaceThenNewlines,
	`\s+(?!\S)`:                 matchSpaceNotBeforeNonSpace,
	`\s+`:                       matchRun(classS, 0),
}

// compileSplitPattern recognises a pre-tokenizer regex, or says which part
// of it is not supported.
func compileSplitPattern(pattern string) (*splitPattern, error) {
	alts, err := topLevelAlternatives(pattern)
	if err != nil {
		return nil, err
	}
	p := &splitPattern{source: pattern}
	for _, alt := range alts {
		if b, ok := knownBranches[alt]; ok {
			p.branches = append(p.branches, b)
			continue
		}
		if b, ok := literalGroup(alt); ok {
			p.branches = append(p.branches, b)
			continue
		}
		return nil, fmt.Errorf("unsupported Split pattern %q: alternative %q is not one of the GPT-2 / Llama 3 / Qwen2 forms this scanner implements", pattern, alt)
	}
	if len(p.branches) == 0 {
		return nil, fmt.Errorf("unsupported Split pattern %q: empty", pattern)
	}
	return p, nil
}

// topLevelAlternatives cuts a pattern at the '|' that are outside groups
// and classes.
func topLevelAlternatives(pattern string) ([]string, error) {
	var alts []string
	depth, inClass, start := 0, false, 0
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unsupported Split pattern %q: unbalanced ')'", pattern)
			}
		case c == '|' && depth == 0:
			alts = append(alts, pattern[start:i])
			start = i + 1
		}
	}
	if depth != 0 || inClass {
		return nil, fmt.Errorf("unsupported Split pattern %q: unbalanced group or class", pattern)
	}
	return append(alts, pattern[start:]), nil
}

// literalGroup recognises a plain literal ("'s"), or a group of literal
// alternatives, case-insensitive ("(?i:'s|'t|'re)") or not ("(?:'s|'S)").
func literalGroup(alt string) (branch, bool) {
	fold := false
	body := alt
	switch {
	case strings.HasPrefix(alt, "(?i:") && strings.HasSuffix(alt, ")"):
		fold, body = true, alt[4:len(alt)-1]
	case strings.HasPrefix(alt, "(?:") && strings.HasSuffix(alt, ")"):
		body = alt[3 : len(alt)-1]
	}
	words := strings.Split(body, "|")
	for _, w := range words {
		if w == "" || strings.ContainsAny(w, `\.^$|?*+()[]{}`) {
			return nil, false
		}
	}
	return func(s string, i int) int {
		for _, w := range words {
			if end := matchLiteral(s, i, w, fold); end > 0 {
				return end
			}
		}
		return -1
	}, true
}

// matchLiteral matches w at s[i:]; with fold, letters match under Unicode
// simple case folding (so "(?i:'s)" also matches "'S" and "'ſ").
func matchLiteral(s string, i int, w string, fold bool) int {
	if !fold {
		if strings.HasPrefix(s[i:], w) {
			return i + len(w)
		}
		return -1
	}
	for _, wr := range w {
		if i >= len(s) {
			return -1
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		if !equalFold(r, wr) {
			return -1
		}
		i += width
	}
	return i
}

// equalFold reports whether a and b are equal under simple case folding.
func equalFold(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// matchOptNonLetterThenLetters is [^\r\n\p{L}\p{N}]?\p{L}+ : one optional
// character that is not a newline, letter or number (a space, a quote, an
// emoji...), then a run of letters. If the optional character is taken but
// no letter follows, the regex backtracks to "no optional character", which
// cannot start with that character either, so the branch fails.
func matchOptNonLetterThenLetters(s string, i int) int {
	r, class, w := runeClass(s, i)
	if class&classL != 0 {
		return runEnd(s, i, classL, 0)
	}
	if r == '\r' || r == '\n' || class&classN != 0 || i+w >= len(s) {
		return -1
	}
	if _, next, _ := runeClass(s, i+w); next&classL == 0 {
		return -1
	}
	return runEnd(s, i+w, classL, 0)
}

// matchOptSpaceThen is " ?X+" for a class X.
func matchOptSpaceThen(class uint8) branch {
	return func(s string, i int) int {
		j := i
		if s[j] == ' ' {
			j++
		}
		if j >= len(s) {
			return -1
		}
		if _, c, _ := runeClass(s, j); c&class == 0 {
			return -1
		}
		return runEnd(s, j, class, 0)
	}
}

// matchRun is X+ (limit 0) or X{1,limit}.
func matchRun(class uint8, limit int) branch {
	return func(s string, i int) int {
		if _, c, _ := runeClass(s, i); c&class == 0 {
			return -1
		}
		return runEnd(s, i, class, limit)
	}
}

// runEnd returns the end of the run of runes of the given class starting at
// i (at most limit runes when limit > 0). The rune at i must be in class.
func runEnd(s string, i int, class uint8, limit int) int {
	n := 0
	for i < len(s) && (limit == 0 || n < limit) {
		_, c, w := runeClass(s, i)
		if c&class == 0 {
			break
		}
		i += w
		n++
	}
	return i
}

// matchPunct is " ?[^\s\p{L}\p{N}]+[\r\n]*" and its variants without the
// optional space or the trailing newlines.
func matchPunct(optSpace, newlines bool) branch {
	return func(s string, i int) int {
		j := i
		if optSpace && s[j] == ' ' {
			j++
		}
		start := j
		for j < len(s) {
			_, c, w := runeClass(s, j)
			if c != 0 {
				break
			}
			j += w
		}
		if j == start {
			return -1
		}
		if newlines {
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
		}
		return j
	}
}

// spaceRun returns the end of the whitespace run at i and the start of its
// last rune (both i when s[i] is not whitespace).
func spaceRun(s string, i int) (end, last int) {
	end, last = i, i
	for end < len(s) {
		_, c, w := runeClass(s, end)
		if c&classS == 0 {
			break
		}
		last = end
		end += w
	}
	return end, last
}

// matchSpaceThenNewlines is \s*[\r\n]+ : the greedy \s* gives back
// characters until [\r\n]+ can match, so the match ends just after the last
// CR or LF of the whitespace run.
func matchSpaceThenNewlines(s string, i int) int {
	end, _ := spaceRun(s, i)
	for j := end - 1; j >= i; j-- {
		if s[j] == '\r' || s[j] == '\n' {
			return j + 1
		}
	}
	return -1
}

// matchSpaceNotBeforeNonSpace is \s+(?!\S) : a whitespace run that reaches
// the end of the text matches whole; one followed by a non-space gives back
// its last character (which then starts the next word, e.g. " world").
func matchSpaceNotBeforeNonSpace(s string, i int) int {
	end, last := spaceRun(s, i)
	switch {
	case end == i:
		return -1
	case end == len(s):
		return end
	case last > i:
		return last
	}
	return -1
}

// find calls emit for every match of the pattern in s, left to right,
// without overlaps, as Regex::find_iter does.
func (p *splitPattern) find(s string, emit func(start, end int)) {
	for i := 0; i < len(s); {
		matched := false
		for _, b := range p.branches {
			if end := b(s, i); end > i {
				emit(i, end)
				i = end
				matched = true
				break
			}
		}
		if !matched {
			_, w := utf8.DecodeRuneInString(s[i:])
			i += w
		}
	}
}
