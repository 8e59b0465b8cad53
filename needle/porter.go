package needle

import "strings"

// PorterStem stems one word as NLTK's PorterStemmer does in its default
// mode (NLTK_EXTENSIONS), which rouge_score uses: Porter's 1980 steps 1a to
// 5b with Martin Porter's later extensions plus NLTK's own (a pool of
// irregular forms, words of one or two letters left alone, "ies"/"ied" on
// four-letter words, y -> i only after a consonant, "alli" handled first,
// "fulli" and "logi" rules, a two-letter vowel-consonant stem counting as
// cvc). The word is lower-cased first. rouge_score applies it only to
// tokens longer than 3 characters; PorterStem itself stems any word.
func PorterStem(word string) string {
	lower := strings.ToLower(word)
	// NLTK looks the word up before lower-casing and its keys are lower
	// case, so only an already lower-case word hits the pool.
	if irregular, ok := porterPool[word]; ok {
		return irregular
	}
	w := []rune(lower)
	if len([]rune(word)) <= 2 {
		return lower
	}
	w = step1a(w)
	w = step1b(w)
	w = step1c(w)
	w = step2(w)
	w = step3(w)
	w = step4(w)
	w = step5a(w)
	w = step5b(w)
	return string(w)
}

// porterPool is NLTK's table of irregular forms (form -> stem).
var porterPool = map[string]string{
	"sky": "sky", "skies": "sky",
	"dying": "die", "lying": "lie", "tying": "tie",
	"news":    "news",
	"innings": "inning", "inning": "inning",
	"outings": "outing", "outing": "outing",
	"cannings": "canning", "canning": "canning",
	"howe":    "howe",
	"proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}

// isConsonant: a letter other than a, e, i, o, u, and other than a y that
// follows a consonant.
func isConsonant(w []rune, i int) bool {
	switch w[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !isConsonant(w, i-1)
	}
	return true
}

// measure is m in [C](VC)^m[V]: the number of vowel-to-consonant changes.
func measure(stem []rune) int {
	m := 0
	for i := 1; i < len(stem); i++ {
		if isConsonant(stem, i) && !isConsonant(stem, i-1) {
			m++
		}
	}
	return m
}

func containsVowel(stem []rune) bool {
	for i := range stem {
		if !isConsonant(stem, i) {
			return true
		}
	}
	return false
}

// endsDoubleConsonant is *d.
func endsDoubleConsonant(w []rune) bool {
	n := len(w)
	return n >= 2 && w[n-1] == w[n-2] && isConsonant(w, n-1)
}

// endsCVC is *o: consonant-vowel-consonant with the last not w, x or y;
// NLTK also counts a two-letter word vowel-consonant.
func endsCVC(w []rune) bool {
	n := len(w)
	if n >= 3 && isConsonant(w, n-3) && !isConsonant(w, n-2) && isConsonant(w, n-1) {
		switch w[n-1] {
		case 'w', 'x', 'y':
		default:
			return true
		}
	}
	return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
}

func hasSuffix(w []rune, suffix string) bool {
	if len(suffix) > len(w) {
		return false
	}
	return string(w[len(w)-len(suffix):]) == suffix
}

// replaceSuffix returns w without its suffix of n runes, plus replacement.
func replaceSuffix(w []rune, n int, replacement string) []rune {
	out := make([]rune, 0, len(w)-n+len(replacement))
	out = append(out, w[:len(w)-n]...)
	return append(out, []rune(replacement)...)
}

// rule is one suffix rule: when the word ends in suffix and cond holds for
// the stem (the word without suffix), the suffix becomes replacement.
type rule struct {
	suffix, replacement string
	cond                func(stem []rune) bool
}

// applyRules applies the first rule whose suffix matches; if its condition
// fails, no later rule is tried (NLTK's _apply_rule_list).
func applyRules(w []rune, rules []rule) []rune {
	for _, r := range rules {
		if hasSuffix(w, r.suffix) {
			stem := w[:len(w)-len(r.suffix)]
			if r.cond == nil || r.cond(stem) {
				return replaceSuffix(w, len(r.suffix), r.replacement)
			}
			return w
		}
	}
	return w
}

func positiveMeasure(stem []rune) bool { return measure(stem) > 0 }
func measureAbove1(stem []rune) bool   { return measure(stem) > 1 }

// step1a: sses -> ss, ies -> i (ie for four-letter words), ss -> ss, s -> .
func step1a(w []rune) []rune {
	if hasSuffix(w, "ies") && len(w) == 4 {
		return replaceSuffix(w, 3, "ie")
	}
	return applyRules(w, []rule{
		{"sses", "ss", nil},
		{"ies", "i", nil},
		{"ss", "ss", nil},
		{"s", "", nil},
	})
}

// step1b: (m>0) eed -> ee; (*v*) ed, ing -> , then tidy the stem.
func step1b(w []rune) []rune {
	if hasSuffix(w, "ied") {
		if len(w) == 4 {
			return replaceSuffix(w, 3, "ie")
		}
		return replaceSuffix(w, 3, "i")
	}
	if hasSuffix(w, "eed") {
		if measure(w[:len(w)-3]) > 0 {
			return replaceSuffix(w, 3, "ee")
		}
		return w
	}
	var stem []rune
	found := false
	for _, suffix := range []string{"ed", "ing"} {
		if hasSuffix(w, suffix) {
			if s := w[:len(w)-len(suffix)]; containsVowel(s) {
				stem, found = s, true
				break
			}
		}
	}
	if !found {
		return w
	}
	for _, r := range []struct{ suffix, replacement string }{{"at", "ate"}, {"bl", "ble"}, {"iz", "ize"}} {
		if hasSuffix(stem, r.suffix) {
			return replaceSuffix(stem, len(r.suffix), r.replacement)
		}
	}
	if endsDoubleConsonant(stem) {
		switch stem[len(stem)-1] {
		case 'l', 's', 'z':
			return stem
		}
		return stem[:len(stem)-1]
	}
	if measure(stem) == 1 && endsCVC(stem) {
		return replaceSuffix(stem, 0, "e")
	}
	return stem
}

// step1c: y -> i when the y follows a consonant that is not the first
// letter (NLTK's condition).
func step1c(w []rune) []rune {
	return applyRules(w, []rule{{"y", "i", func(stem []rune) bool {
		return len(stem) > 1 && isConsonant(stem, len(stem)-1)
	}}})
}

// step2 maps double suffixes to single ones for stems with m > 0.
func step2(w []rune) []rune {
	// NLTK applies alli -> al first and runs step 2 again on the result.
	if hasSuffix(w, "alli") && positiveMeasure(w[:len(w)-4]) {
		return step2(replaceSuffix(w, 4, "al"))
	}
	return applyRules(w, []rule{
		{"ational", "ate", positiveMeasure},
		{"tional", "tion", positiveMeasure},
		{"enci", "ence", positiveMeasure},
		{"anci", "ance", positiveMeasure},
		{"izer", "ize", positiveMeasure},
		{"bli", "ble", positiveMeasure},
		{"alli", "al", positiveMeasure},
		{"entli", "ent", positiveMeasure},
		{"eli", "e", positiveMeasure},
		{"ousli", "ous", positiveMeasure},
		{"ization", "ize", positiveMeasure},
		{"ation", "ate", positiveMeasure},
		{"ator", "ate", positiveMeasure},
		{"alism", "al", positiveMeasure},
		{"iveness", "ive", positiveMeasure},
		{"fulness", "ful", positiveMeasure},
		{"ousness", "ous", positiveMeasure},
		{"aliti", "al", positiveMeasure},
		{"iviti", "ive", positiveMeasure},
		{"biliti", "ble", positiveMeasure},
		{"fulli", "ful", positiveMeasure},
		// The l of logi stays with the stem for the measure, so short
		// stems like geo- and theo- qualify.
		{"logi", "log", func([]rune) bool { return positiveMeasure(w[:len(w)-3]) }},
	})
}

// step3: icate, ative, alize, iciti, ical, ful, ness for stems with m > 0.
func step3(w []rune) []rune {
	return applyRules(w, []rule{
		{"icate", "ic", positiveMeasure},
		{"ative", "", positiveMeasure},
		{"alize", "al", positiveMeasure},
		{"iciti", "ic", positiveMeasure},
		{"ical", "ic", positiveMeasure},
		{"ful", "", positiveMeasure},
		{"ness", "", positiveMeasure},
	})
}

// step4 removes the remaining suffixes from stems with m > 1.
func step4(w []rune) []rune {
	return applyRules(w, []rule{
		{"al", "", measureAbove1},
		{"ance", "", measureAbove1},
		{"ence", "", measureAbove1},
		{"er", "", measureAbove1},
		{"ic", "", measureAbove1},
		{"able", "", measureAbove1},
		{"ible", "", measureAbove1},
		{"ant", "", measureAbove1},
		{"ement", "", measureAbove1},
		{"ment", "", measureAbove1},
		{"ent", "", measureAbove1},
		{"ion", "", func(stem []rune) bool {
			return measure(stem) > 1 && (stem[len(stem)-1] == 's' || stem[len(stem)-1] == 't')
		}},
		{"ou", "", measureAbove1},
		{"ism", "", measureAbove1},
		{"ate", "", measureAbove1},
		{"iti", "", measureAbove1},
		{"ous", "", measureAbove1},
		{"ive", "", measureAbove1},
		{"ize", "", measureAbove1},
	})
}

// step5a: (m>1) e -> ; (m=1 and not *o) e -> .
func step5a(w []rune) []rune {
	if hasSuffix(w, "e") {
		stem := w[:len(w)-1]
		if m := measure(stem); m > 1 || (m == 1 && !endsCVC(stem)) {
			return stem
		}
	}
	return w
}

// step5b: (m>1 and *d and *L) -> single letter; NLTK measures the word
// without its last letter.
func step5b(w []rune) []rune {
	if hasSuffix(w, "ll") && measure(w[:len(w)-1]) > 1 {
		return w[:len(w)-1]
	}
	return w
}
