package needle

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Tokenizer is what probes need from a tokenizer; model/tokenizer's
// Tokenizer satisfies it. Encode adds the beginning-of-text token when
// addSpecial is true, as Hugging Face's add_special_tokens does.
type Tokenizer interface {
	Encode(text string, addSpecial bool) []int
	Decode(ids []int) string
}

// Settings say how Build turns needles and a haystack into probes.
type Settings struct {
	Grid       Grid
	Template   Template
	AddSpecial bool // prepend BOS when tokenising the prompt; true matches Hugging Face
	// Compat selects the construction: CompatNone (compresskv's) or
	// CompatReference (the reference's, token for token; it needs the raw
	// template and AddSpecial).
	Compat Compat

	// Provenance only: the seeds the caller generated needles and haystack
	// with, recorded so a profile says how its probes were made.
	NeedleSeed, HaystackSeed int64
}

// Probe is one prompt of the grid with its answer span.
type Probe struct {
	Index         int     // position in the grid order (needle, context length, depth), counting skips
	ContextLength int     // target length in tokens (the grid's context length)
	Depth         float64 // needle depth in percent
	NeedleID      string
	IDs           []int // [tokens] full prompt ids, BOS included when Settings.AddSpecial
	// SpanStart, SpanEnd: the answer span [SpanStart, SpanEnd) in IDs. In
	// CompatReference mode both are -1 when the reference's rule finds no
	// span; such a probe still runs but scores nothing, as in the reference.
	SpanStart int
	SpanEnd   int
	// InsertAt is the needle's index in the cut haystack's ids before the
	// final decode and re-encode (the reference's insertion_point; the
	// haystack length at depth 100 in CompatReference mode).
	InsertAt  int
	Answer    string
	AnswerIDs []int // the tokenisation of Answer the span was found with
	Question  string
	Prompt    string // full prompt text (without the BOS token)
}

// Skip is a grid position that produced no probe, and why.
type Skip struct {
	Index         int
	ContextLength int
	Depth         float64
	NeedleID      string
	Reason        string
}

// Build makes one probe per needle, context length and depth, in that
// nesting order, following the reference's prompt construction (see the
// package comment). The haystack is tokenised once. Positions where the
// answer span cannot be located, or where the context length leaves no
// room for haystack, are returned as skips; an error means the inputs
// cannot make any probe (bad grid, no needles, empty haystack).
func Build(tok Tokenizer, haystack string, needles []Needle, s Settings) ([]Probe, []Skip, error) {
	if err := s.Grid.Validate(); err != nil {
		return nil, nil, err
	}
	if len(needles) == 0 {
		return nil, nil, errors.New("probes: no needles")
	}
	if n := len(s.Grid.ContextLengths) * len(s.Grid.Depths) * len(needles); n > MaxProbes {
		return nil, nil, fmt.Errorf("probes: %d context lengths x %d depths x %d needles = %d probes, want at most %d",
			len(s.Grid.ContextLengths), len(s.Grid.Depths), len(needles), n, MaxProbes)
	}
	if !strings.Contains(s.Template.Text, "{context}") {
		return nil, nil, fmt.Errorf("probes: template %q has no {context} placeholder", s.Template.Name)
	}
	if strings.TrimSpace(haystack) == "" {
		return nil, nil, errors.New("probes: empty haystack")
	}
	switch s.Compat {
	case CompatNone:
	case CompatReference:
		return buildReference(tok, haystack, needles, s)
	default:
		return nil, nil, fmt.Errorf("probes: unknown compat mode %q (want none or reference)", s.Compat)
	}
	need := 0
	for _, l := range s.Grid.ContextLengths {
		need = max(need, l-s.Grid.Buffer)
	}
	hayIDs, err := haystackIDs(tok, haystack, need)
	if err != nil {
		return nil, nil, err
	}
	periods := periodIDs(tok)
	// Prompt tokens before the context, to know roughly where the needle
	// lands in the prompt ids.
	before, _, _ := strings.Cut(s.Template.Text, "{context}")
	lead := len(tok.Encode(s.Template.Render(before, "", ""), s.AddSpecial))

	var probes []Probe
	var skips []Skip
	index := 0
	for _, n := range needles {
		needleIDs := tok.Encode(frameNeedle(n.Needle), false)
		answerVariants := answerTokenisations(tok, n.Answer, n.Needle)
		for _, length := range s.Grid.ContextLengths {
			// The reference keeps `buffer` tokens free for question and
			// answer, and makes room for the needle inside the rest.
			room := length - s.Grid.Buffer - len(needleIDs)
			for _, depth := range s.Grid.Depths {
				skip := Skip{Index: index, ContextLength: length, Depth: depth, NeedleID: n.ID}
				index++
				if room < 1 {
					skip.Reason = fmt.Sprintf("context length %d leaves no room for haystack: buffer %d + needle %d tokens", length, s.Grid.Buffer, len(needleIDs))
					skips = append(skips, skip)
					continue
				}
				contextIDs, at := insertNeedle(hayIDs[:min(room, len(hayIDs))], needleIDs, depth, periods)
				prompt := s.Template.Render(tok.Decode(contextIDs), n.Question, n.Prefix)
				ids := tok.Encode(prompt, s.AddSpecial)
				// Look in the needle first (re-tokenisation may shift it by
				// a few ids), then, like the reference, anywhere.
				start, end, answerIDs, ok := locateAnswer(tok, ids, max(0, lead+at-8), n.Answer, answerVariants)
				if !ok {
					start, end, answerIDs, ok = locateAnswer(tok, ids, 0, n.Answer, answerVariants)
				}
				if !ok {
					skip.Reason = fmt.Sprintf("answer %q not found in the prompt ids (no window overlapping its ids by > 90%% decodes to it, ignoring case)", n.Answer)
					skips = append(skips, skip)
					continue
				}
				probes = append(probes, Probe{
					Index: skip.Index, ContextLength: length, Depth: depth, NeedleID: n.ID,
					IDs: ids, SpanStart: start, SpanEnd: end, InsertAt: at,
					Answer: n.Answer, AnswerIDs: answerIDs, Question: n.Question, Prompt: prompt,
				})
			}
		}
	}
	return probes, skips, nil
}

// frameNeedle gives a bare needle sentence the framing of the reference's
// own needles ("\n<sentence>\n"), so it reads as a paragraph of its own and
// the question after a depth-100 needle starts on a new line.
func frameNeedle(text string) string {
	if text == "" || strings.TrimLeft(text, " \t\r\n") != text || strings.TrimRight(text, " \t\r\n") != text {
		return text
	}
	return "\n" + text + "\n"
}

// haystackIDs returns at least need+1 token ids of the haystack (so the
// boundary token of the cut text is never used), repeating the text when
// it is too short, as the reference does. Only a prefix of a long text is
// tokenised: about six characters per needed token, doubled until enough.
func haystackIDs(tok Tokenizer, text string, need int) ([]int, error) {
	chars := need*6 + 1024
	for range 40 {
		src := text
		if len(src) < chars {
			src = strings.Repeat(text, chars/len(text)+1)
		}
		ids := tok.Encode(src[:cutAtSpace(src, chars)], false)
		if len(ids) > need {
			return ids, nil
		}
		if len(ids) == 0 && len(src) >= chars {
			return nil, errors.New("probes: the tokenizer gives no ids for the haystack text")
		}
		chars *= 2
	}
	return nil, fmt.Errorf("probes: could not tokenise %d haystack tokens", need)
}

// cutAtSpace returns the index of the first whitespace byte at or after
// at (or len(s)), so a cut never splits a word or a UTF-8 sequence.
func cutAtSpace(s string, at int) int {
	if at >= len(s) {
		return len(s)
	}
	if i := strings.IndexAny(s[at:], " \n\t\r"); i >= 0 {
		return at + i
	}
	return len(s)
}

// periodIDs returns the ids that end a sentence: the tokenisation of "."
// alone and, when the tokenizer marks word starts (SentencePiece "▁."),
// also the "." that ends a word. Only single-token periods count.
func periodIDs(tok Tokenizer) map[int]bool {
	set := map[int]bool{}
	if ids := tok.Encode(".", false); len(ids) > 0 && strings.TrimSpace(tok.Decode(ids[len(ids)-1:])) == "." {
		set[ids[len(ids)-1]] = true
	}
	if ids := tok.Encode("a.", false); len(ids) > 0 && strings.TrimSpace(tok.Decode(ids[len(ids)-1:])) == "." {
		set[ids[len(ids)-1]] = true
	}
	return set
}

// insertNeedle is the reference's insert_needle on ids: the insertion
// point int(len * depth/100) moves back until the token before it is a
// period (or the start), and the needle goes there. It returns the new
// context and the needle's index in it. Unlike the reference, depth 100
// follows the same rule (the reference appends the needle to the cut
// haystack, often mid-sentence): the needle then sits after the last
// sentence end, followed by the rest of the cut sentence.
func insertNeedle(context, needle []int, depth float64, periods map[int]bool) ([]int, int) {
	out := make([]int, 0, len(context)+len(needle))
	at := int(float64(len(context)) * (depth / 100))
	for at > 0 && !periods[context[at-1]] {
		at--
	}
	out = append(out, context[:at]...)
	out = append(out, needle...)
	return append(out, context[at:]...), at
}

// answerTokenisations returns the answer's ids as the reference tokenises
// it and, when different, its ids after a space (inside a sentence a
// byte-level BPE tokenizer sees " Amber", not "Amber"); when the needle
// spells the answer in another case (the answer "Because ..." of a needle
// saying "... because ..."), the same two for the needle's spelling.
func answerTokenisations(tok Tokenizer, answer, needle string) [][]int {
	spellings := []string{answer}
	if !strings.Contains(needle, answer) {
		lower := strings.ToLower(needle)
		if i := strings.Index(lower, strings.ToLower(answer)); i >= 0 && len(lower) == len(needle) && len(strings.ToLower(answer)) == len(answer) {
			spellings = append(spellings, needle[i:i+len(answer)])
		}
	}
	var variants [][]int
	addVariant := func(ids []int) {
		for _, v := range variants {
			if slices.Equal(v, ids) {
				return
			}
		}
		variants = append(variants, ids)
	}
	for _, sp := range spellings {
		addVariant(tok.Encode(sp, false))
		if !strings.HasPrefix(sp, " ") {
			addVariant(tok.Encode(" "+sp, false))
		}
	}
	return variants
}

// locateAnswer finds the answer span: the first window starting at or
// after from that passes the reference's 90 % set rule and whose text
// contains the answer, ignoring case (the needle may spell the answer in
// another case than real_needle does).
func locateAnswer(tok Tokenizer, prompt []int, from int, answer string, variants [][]int) (start, end int, answerIDs []int, ok bool) {
	want := strings.ToLower(normalizeSpace(answer))
	for _, ids := range variants {
		for from := from; ; {
			s, e, found := windowSpan(prompt, ids, from, false)
			if !found {
				break
			}
			if strings.Contains(strings.ToLower(normalizeSpace(tok.Decode(prompt[s:e]))), want) {
				return s, e, ids, true
			}
			from = s + 1
		}
	}
	return 0, 0, nil, false
}

// FindSpan is the reference's find_needle_idx on full windows: the first
// window of len(answer) prompt ids whose id set overlaps the answer's id
// set by more than 90 % (of the answer's distinct ids). Only windows that
// fit in the prompt are considered.
func FindSpan(prompt, answer []int) (start, end int, ok bool) {
	return windowSpan(prompt, answer, 0, false)
}

// windowSpan is FindSpan for windows starting at or after from; with
// partial, windows cut short by the end of the prompt count too (the
// reference's Python slice). It slides one window along the prompt keeping
// counts of the answer's ids inside it.
func windowSpan(prompt, answer []int, from int, partial bool) (start, end int, ok bool) {
	n := len(answer)
	if n == 0 || from < 0 || !partial && n > len(prompt) {
		return 0, 0, false
	}
	want := make(map[int]int, n) // answer id -> count inside the window
	for _, id := range answer {
		want[id] = 0
	}
	distinct := len(want)
	covered := 0 // answer ids present in the window
	add := func(id, delta int) {
		c, in := want[id]
		if !in {
			return
		}
		if c == 0 && delta > 0 {
			covered++
		}
		if c == 1 && delta < 0 {
			covered--
		}
		want[id] = c + delta
	}
	for i := from; i < from+n && i < len(prompt); i++ {
		add(prompt[i], 1)
	}
	last := len(prompt) - n // last start of a full window
	if partial {
		last = len(prompt) - 1
	}
	for s := from; s <= last; s++ {
		if s > from {
			add(prompt[s-1], -1)
			if s+n-1 < len(prompt) {
				add(prompt[s+n-1], 1)
			}
		}
		if 10*covered > 9*distinct { // covered/distinct > 0.9, exactly as in float64
			return s, s + n, true
		}
	}
	return 0, 0, false
}

// normalizeSpace collapses whitespace runs to one space and trims.
func normalizeSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
