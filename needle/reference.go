package needle

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Compat names how Build constructs probes.
type Compat string

const (
	// CompatNone is compresskv's own construction (the package comment
	// lists how it departs from the reference).
	CompatNone Compat = ""
	// CompatReference reproduces the reference head-detection script token
	// for token: its BOS handling, decode/re-encode round trips, period
	// set, depth-100 rule and span rule (see buildReference).
	CompatReference Compat = "reference"
)

// ParseCompat reads a --compat value: "" or "none" (compresskv's own
// construction) or "reference".
func ParseCompat(s string) (Compat, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return CompatNone, nil
	case "reference":
		return CompatReference, nil
	}
	return "", fmt.Errorf("compat mode %q: want none or reference", s)
}

// String is the name a profile records ("" for the default).
func (c Compat) String() string { return string(c) }

// cleaner is implemented by tokenizers that know transformers'
// clean_up_tokenization_spaces setting (model/tokenizer does).
type cleaner interface {
	CleanUpTokenizationSpaces() bool
}

// CleanUpTokenizationSpaces is transformers' clean_up_tokenization: the
// replacements it applies, in its order, to decoded text when the
// tokenizer's clean_up_tokenization_spaces is set.
func CleanUpTokenizationSpaces(s string) string {
	for _, r := range [...][2]string{
		{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
		{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
	} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// referenceDecoder returns transformers' decode(ids) for tok: special
// tokens kept, then clean_up_tokenization_spaces when tok's
// tokenizer_config.json sets it.
func referenceDecoder(tok Tokenizer) func(ids []int) string {
	if c, ok := tok.(cleaner); ok && c.CleanUpTokenizationSpaces() {
		return func(ids []int) string { return CleanUpTokenizationSpaces(tok.Decode(ids)) }
	}
	return tok.Decode
}

// buildReference is Build in CompatReference mode. It follows the
// reference's generate_context, evaluate_and_log and find_needle_idx step
// by step (names in comments are the reference's):
//
//  1. read_context_files: the haystack text, its line ends read as
//     Python's text mode does ("\r\n" and "\r" become "\n"), is repeated
//     until it has at least max(context lengths) whitespace-separated
//     words.
//  2. encode_and_trim: it is encoded WITH special tokens; when longer than
//     the context length L, the text becomes decode(tokens[:L]), which
//     starts with the BOS string.
//  3. insert_needle: tokens_needle = encode(needle) and tokens_context =
//     encode(text), both with BOS (so two BOS lead the context); the
//     context is cut to L - buffer - len(tokens_needle) (a Python slice,
//     so a negative stop counts from the end).
//  4. depth 100 appends the needle; any other depth takes
//     int(len * depth/100) and walks back while the previous token is not
//     in set(encode(".")), BOS included.
//  5. the ids are decoded, the template appended, the prompt encoded with
//     BOS.
//  6. the span is the first window from 0 whose id set overlaps the
//     answer's (encoded without special tokens) by more than 90 %; none
//     gives [-1, -1], and the probe is still emitted.
//
// Decoding is transformers' (referenceDecoder). The needle text is used
// verbatim: no framing.
func buildReference(tok Tokenizer, haystack string, needles []Needle, s Settings) ([]Probe, []Skip, error) {
	if s.Template.Name != "raw" {
		return nil, nil, fmt.Errorf("probes: compat mode reference builds the reference's raw prompt; template %q is not the reference's", s.Template.Name)
	}
	if !s.AddSpecial {
		return nil, nil, errors.New("probes: compat mode reference always adds special tokens (BOS), as the reference does")
	}
	decode := referenceDecoder(tok)
	maxLen := s.Grid.MaxLength()
	// Python reads the haystack files in text mode: universal newlines.
	haystack = strings.ReplaceAll(strings.ReplaceAll(haystack, "\r\n", "\n"), "\r", "\n")
	text, err := repeatToWords(haystack, maxLen)
	if err != nil {
		return nil, nil, err
	}
	hay, whole := referenceHaystackIDs(tok, text, maxLen)
	periods := map[int]bool{}
	for _, id := range tok.Encode(".", true) {
		periods[id] = true
	}

	var probes []Probe
	index := 0
	for _, n := range needles {
		needleIDs := tok.Encode(n.Needle, true)
		answerIDs := tok.Encode(n.Answer, false)
		if len(answerIDs) == 0 {
			return nil, nil, fmt.Errorf("probes: needle %s: the answer %q has no tokens", n.ID, n.Answer)
		}
		for _, length := range s.Grid.ContextLengths {
			cut := text
			if !whole || len(hay) > length {
				cut = decode(hay[:length])
			}
			context := tok.Encode(cut, true)
			if room := length - s.Grid.Buffer; len(context)+len(needleIDs) > room {
				context = context[:pythonStop(room-len(needleIDs), len(context))]
			}
			for _, depth := range s.Grid.Depths {
				ids := make([]int, 0, len(context)+len(needleIDs))
				at := len(context)
				if depth == 100 {
					ids = append(append(ids, context...), needleIDs...)
				} else {
					at = int(float64(len(context)) * (depth / 100))
					for at > 0 && !periods[context[at-1]] {
						at--
					}
					ids = append(append(append(ids, context[:at]...), needleIDs...), context[at:]...)
				}
				prompt := s.Template.Render(decode(ids), n.Question, n.Prefix)
				promptIDs := tok.Encode(prompt, true)
				start, end := referenceSpan(promptIDs, answerIDs)
				probes = append(probes, Probe{
					Index: index, ContextLength: length, Depth: depth, NeedleID: n.ID,
					IDs: promptIDs, SpanStart: start, SpanEnd: end, InsertAt: at,
					Answer: n.Answer, AnswerIDs: answerIDs, Question: n.Question, Prompt: prompt,
				})
				index++
			}
		}
	}
	return probes, nil, nil
}

// pythonStop is the end index of the Python slice x[:stop] of a sequence
// of length n.
func pythonStop(stop, n int) int {
	if stop < 0 {
		stop += n
	}
	return min(max(stop, 0), n)
}

// repeatToWords is the reference's read_context_files on one text: the
// text appended to "" until the result has at least words
// whitespace-separated words (Python's str.split). A copy appended right
// after a copy ending in a word continues that word, as in Python. A text
// that can never reach the count (one word without whitespace, where the
// reference loops forever) is an error.
func repeatToWords(text string, words int) (string, error) {
	one := pythonWords(text)
	joined := 0
	if !isPythonSpace(firstRune(text)) && !isPythonSpace(lastRune(text)) {
		joined = 1 // the last word of a copy and the first of the next are one
	}
	if one < words && one-joined <= 0 {
		return "", fmt.Errorf("probes: the haystack has %d word(s) and no whitespace between copies: repeating it never gives the %d words the reference reads", one, words)
	}
	copies, have := 1, one
	for have < words {
		copies++
		have += one - joined
	}
	return strings.Repeat(text, copies), nil
}

// pythonWords is len(text.split()).
func pythonWords(text string) int {
	return len(strings.FieldsFunc(text, isPythonSpace))
}

// isPythonSpace is Python's str.isspace for one character: Go's
// unicode.IsSpace plus the information separators U+001C..U+001F.
func isPythonSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return ' '
}

func lastRune(s string) rune {
	r := ' '
	for _, c := range s {
		r = c
	}
	return r
}

// referenceHaystackIDs returns at least the first need ids of
// encode(text) with special tokens, and whether they are all of them
// (whole: the full text was encoded). Only a prefix of a long text is
// encoded, cut before a whitespace, with a margin of 1024 tokens: BPE
// pieces never span whitespace there, so the first need ids equal those of
// the whole text's encoding.
func referenceHaystackIDs(tok Tokenizer, text string, need int) (ids []int, whole bool) {
	const margin = 1024
	for chars := 6*(need+margin) + 4096; ; chars *= 2 {
		end := cutAtSpace(text, chars)
		ids = tok.Encode(text[:end], true)
		if end == len(text) {
			return ids, true
		}
		if len(ids) >= need+margin {
			return ids, false
		}
	}
}

// referenceSpan is the reference's find_needle_idx: the first i from 0
// whose window prompt[i:i+n] (shorter at the end of the prompt, as a
// Python slice) has an id set covering more than 90 % of the answer's
// distinct ids; [-1, -1] when there is none. A window cut short can only
// be the first to pass when the prompt is shorter than the answer; the
// reference then returns i + n, past the prompt (and would index past it
// when scoring); here the end is clamped to the prompt.
func referenceSpan(prompt, answer []int) (start, end int) {
	s, e, ok := windowSpan(prompt, answer, 0, true)
	if !ok {
		return -1, -1
	}
	return s, min(e, len(prompt))
}
