package needle

import (
	"slices"
	"strings"
)

// rougeTokens is rouge_score's default tokenizer with use_stemmer=True:
// lower-case, every run of characters other than a-z and 0-9 becomes a
// space, split on spaces, and tokens longer than 3 characters are stemmed
// with NLTK's Porter stemmer.
func rougeTokens(text string) []string {
	// Python lower-cases U+0130 to "i" plus a combining dot, which then
	// splits the word; Go maps it to a bare "i".
	lower := strings.ToLower(strings.ReplaceAll(text, "\u0130", "i\u0307"))
	tokens := strings.FieldsFunc(lower, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	out := tokens[:0]
	for _, t := range tokens {
		if len(t) > 3 {
			t = PorterStem(t)
		}
		if t != "" { // rouge_score drops tokens that are not [a-z0-9]+
			out = append(out, t)
		}
	}
	return out
}

// Rouge1Recall is rouge_score's ROUGE-1 recall of response against
// reference with stemming: the number of unigrams the two share (each
// counted at most as often as it occurs in both) divided by the number of
// reference unigrams; 0 when the reference has no tokens. The reference's
// success gate is recall > 0.5.
func Rouge1Recall(response, reference string) float64 {
	ref := rougeTokens(reference)
	if len(ref) == 0 {
		return 0
	}
	counts := map[string]int{}
	for _, t := range rougeTokens(response) {
		counts[t]++
	}
	overlap := 0
	for _, t := range ref {
		if counts[t] > 0 {
			counts[t]--
			overlap++
		}
	}
	return float64(overlap) / float64(len(ref))
}

// ExactMatch reports whether the reference's words occur, in order and
// contiguous, in the response, both tokenised as ROUGE does (lower case,
// punctuation dropped, Porter stems). So "Answer: blue heron." matches
// "the blue heron" only if the response holds "the blue heron"; a reference
// without words never matches.
func ExactMatch(response, reference string) bool {
	ref, resp := rougeTokens(reference), rougeTokens(response)
	if len(ref) == 0 {
		return false
	}
	for i := 0; i+len(ref) <= len(resp); i++ {
		if slices.Equal(resp[i:i+len(ref)], ref) {
			return true
		}
	}
	return false
}
