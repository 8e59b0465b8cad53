package needle

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// wordTokenizer is a test tokenizer: words split on whitespace, "." its own
// token, ids given in order of first sight, id 0 the BOS "<s>". Decode
// joins words with single spaces, so Encode(Decode(ids)) == ids.
type wordTokenizer struct {
	ids   map[string]int
	words []string
}

func newWordTokenizer() *wordTokenizer {
	w := &wordTokenizer{ids: map[string]int{}}
	w.id("<s>")
	return w
}

func (w *wordTokenizer) id(word string) int {
	if id, ok := w.ids[word]; ok {
		return id
	}
	w.ids[word] = len(w.words)
	w.words = append(w.words, word)
	return w.ids[word]
}

func (w *wordTokenizer) Encode(text string, addSpecial bool) []int {
	var out []int
	if addSpecial {
		out = append(out, 0)
	}
	for _, f := range strings.Fields(text) {
		for f != "" {
			i := strings.IndexByte(f, '.')
			if i < 0 {
				out = append(out, w.id(f))
				break
			}
			if i > 0 {
				out = append(out, w.id(f[:i]))
			}
			out = append(out, w.id("."))
			f = f[i+1:]
		}
	}
	return out
}

func (w *wordTokenizer) Decode(ids []int) string {
	words := make([]string, len(ids))
	for i, id := range ids {
		words[i] = w.words[id]
	}
	return strings.Join(words, " ")
}

func TestFindSpan(t *testing.T) {
	tests := []struct {
		name        string
		prompt, ans []int
		start, end  int
		ok          bool
	}{
		{"exact", []int{1, 2, 3, 4, 5}, []int{3, 4}, 2, 4, true},
		{"first of two", []int{3, 4, 9, 3, 4}, []int{3, 4}, 0, 2, true},
		{"order ignored (set rule)", []int{1, 4, 3, 5}, []int{3, 4}, 1, 3, true},
		{"repeats ignored, first window wins", []int{1, 5, 6, 6, 2}, []int{5, 5, 6}, 0, 3, true},
		// 10 distinct answer ids, 9 present: 9/10 is not > 0.9.
		{"9 of 10 fails", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 99}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, 0, false},
		// 11 distinct, 10 present: 10/11 > 0.9, already in the window at 0.
		{"10 of 11 passes", []int{99, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 98}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0, 11, true},
		{"sliding", []int{99, 98, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 97}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1, 12, true},
		{"absent", []int{1, 2, 3}, []int{4}, 0, 0, false},
		{"empty answer", []int{1, 2, 3}, nil, 0, 0, false},
		{"answer longer than prompt", []int{1}, []int{1, 1}, 0, 0, false},
		// Only full windows: the reference's truncated last window is not used.
		{"window past the end", []int{9, 9, 1}, []int{1, 2}, 0, 0, false},
	}
	for _, tt := range tests {
		s, e, ok := FindSpan(tt.prompt, tt.ans)
		if s != tt.start || e != tt.end || ok != tt.ok {
			t.Errorf("%s: FindSpan(%v, %v) = %d, %d, %v, want %d, %d, %v", tt.name, tt.prompt, tt.ans, s, e, ok, tt.start, tt.end, tt.ok)
		}
	}
}

func TestInsertNeedle(t *testing.T) {
	const p = 9 // the period id
	context := []int{1, 2, p, 3, 4, p, 5, 6}
	needle := []int{7, 8}
	tests := []struct {
		depth float64
		want  []int
	}{
		{0, []int{7, 8, 1, 2, p, 3, 4, p, 5, 6}},
		{20, []int{7, 8, 1, 2, p, 3, 4, p, 5, 6}},  // point 1, no period before it: start
		{50, []int{1, 2, p, 7, 8, 3, 4, p, 5, 6}},  // point 4 moves back to after the first period
		{75, []int{1, 2, p, 3, 4, p, 7, 8, 5, 6}},  // point 6 is right after a period
		{99, []int{1, 2, p, 3, 4, p, 7, 8, 5, 6}},  // point int(7.92) = 7 moves back to 6
		{100, []int{1, 2, p, 3, 4, p, 7, 8, 5, 6}}, // the end moves back to after the last period (the reference appends)
	}
	for _, tt := range tests {
		got, at := insertNeedle(context, needle, tt.depth, map[int]bool{p: true})
		if !slices.Equal(got, tt.want) || !slices.Equal(got[at:at+2], needle) {
			t.Errorf("insertNeedle(depth %v) = %v, %d, want %v", tt.depth, got, at, tt.want)
		}
	}
	if got, at := insertNeedle([]int{1, 2, 3}, needle, 50, map[int]bool{p: true}); !slices.Equal(got, []int{7, 8, 1, 2, 3}) || at != 0 {
		t.Errorf("insertNeedle without periods = %v, %d, want the needle first", got, at)
	}
}

func TestBuildWordTokenizer(t *testing.T) {
	tok := newWordTokenizer()
	haystack := GenerateHaystack(1, 20000)
	needles := append(GenerateNeedles(5, 2), Needle{ID: "code", Needle: "The secret code of the Amber Harbor archive is 4817-KX.", Question: "What is the secret code of the Amber Harbor archive?", Answer: "4817-KX"})
	tmpl, err := TemplateFor("raw")
	if err != nil {
		t.Fatal(err)
	}
	s := Settings{Grid: Grid{ContextLengths: []int{80, 300, 1200}, Depths: []float64{0, 33, 50, 100}, Buffer: 20}, Template: tmpl, AddSpecial: true}
	probes, skips, err := Build(tok, haystack, needles, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(skips) != 0 || len(probes) != 3*3*4 {
		t.Fatalf("got %d probes, skips %+v; want 36 probes and no skip", len(probes), skips)
	}
	period := tok.id(".")
	hay := tok.Encode(haystack, false)
	for i, p := range probes {
		n := needles[i/12]
		if p.Index != i || p.NeedleID != n.ID || p.ContextLength != s.Grid.ContextLengths[i/4%3] || p.Depth != s.Grid.Depths[i%4] {
			t.Fatalf("probe %d: index %d needle %s length %d depth %v out of grid order", i, p.Index, p.NeedleID, p.ContextLength, p.Depth)
		}
		if p.IDs[0] != 0 {
			t.Errorf("probe %d: no BOS", i)
		}
		if got := tok.Decode(p.IDs[p.SpanStart:p.SpanEnd]); got != n.Answer {
			t.Errorf("probe %d: span text %q, want %q", i, got, n.Answer)
		}
		if !slices.Equal(p.AnswerIDs, p.IDs[p.SpanStart:p.SpanEnd]) {
			t.Errorf("probe %d: AnswerIDs %v, span ids %v", i, p.AnswerIDs, p.IDs[p.SpanStart:p.SpanEnd])
		}
		needleIDs := tok.Encode(n.Needle, false)
		at := indexOf(p.IDs, needleIDs)
		if at < 0 {
			t.Fatalf("probe %d: needle ids not in the prompt", i)
		}
		room := p.ContextLength - s.Grid.Buffer - len(needleIDs)
		switch p.Depth {
		case 0:
			if at != 1 {
				t.Errorf("probe %d: depth 0 needle at %d, want 1 (after BOS)", i, at)
			}
		default:
			// Right after a period, and the last period before the depth point.
			point := int(float64(room) * p.Depth / 100)
			if p.IDs[at-1] != period {
				t.Errorf("probe %d: token before the needle is %q, want \".\"", i, tok.words[p.IDs[at-1]])
			}
			if !slices.Equal(p.IDs[1:at], hay[:at-1]) || slices.Contains(hay[at-1:point], period) {
				t.Errorf("probe %d: needle at %d is not after the last period before token %d", i, at, point)
			}
		}
		// The haystack keeps length - buffer tokens with the needle; the
		// question follows (the word tokenizer fuses the last context word
		// and "Based", hence the one-token slack).
		overhead := len(tok.Encode(tmpl.Render("", n.Question, ""), true))
		if want := p.ContextLength - s.Grid.Buffer + overhead; len(p.IDs) != want && len(p.IDs) != want-1 {
			t.Errorf("probe %d: %d prompt tokens, want %d", i, len(p.IDs), want)
		}
		if !slices.Equal(tok.Encode(p.Prompt, true), p.IDs) {
			t.Errorf("probe %d: IDs are not the tokenised Prompt", i)
		}
	}
}

func indexOf(haystack, needle []int) int {
	for i := 0; i+len(needle) <= len(haystack); i++ {
		if slices.Equal(haystack[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

func TestBuildSkips(t *testing.T) {
	tok := newWordTokenizer()
	tmpl, _ := TemplateFor("raw")
	needles := []Needle{
		{ID: "ok", Needle: "The vault code is 12-AB.", Question: "What is the vault code?", Answer: "12-AB"},
		{ID: "lost", Needle: "The vault code is 12-AB.", Question: "What is the vault code?", Answer: "99-ZZ"},
	}
	s := Settings{Grid: Grid{ContextLengths: []int{25, 100}, Depths: []float64{50}, Buffer: 20}, Template: tmpl, AddSpecial: true}
	probes, skips, err := Build(tok, GenerateHaystack(2, 3000), needles, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 1 || probes[0].NeedleID != "ok" || probes[0].ContextLength != 100 || probes[0].Index != 1 {
		t.Fatalf("probes = %+v, want only ok at length 100 (index 1)", probes)
	}
	wantSkips := []struct {
		index  int
		reason string
	}{
		{0, "context length 25 leaves no room for haystack: buffer 20 + needle 6 tokens"},
		{2, "context length 25 leaves no room"},
		{3, `answer "99-ZZ" not found`},
	}
	if len(skips) != len(wantSkips) {
		t.Fatalf("skips = %+v", skips)
	}
	for i, w := range wantSkips {
		if skips[i].Index != w.index || !strings.Contains(skips[i].Reason, w.reason) {
			t.Errorf("skip %d = %+v, want index %d reason containing %q", i, skips[i], w.index, w.reason)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tok := newWordTokenizer()
	raw, _ := TemplateFor("raw")
	grid := Grid{ContextLengths: []int{100}, Depths: []float64{50}, Buffer: 10}
	needles := GenerateNeedles(1, 1)
	tests := []struct {
		name     string
		haystack string
		needles  []Needle
		s        Settings
		wantErr  string
	}{
		{"bad grid", "Text. ", needles, Settings{Grid: Grid{Depths: []float64{1}}, Template: raw}, "no context lengths"},
		{"no needles", "Text. ", nil, Settings{Grid: grid, Template: raw}, "no needles"},
		{"empty haystack", " \n", needles, Settings{Grid: grid, Template: raw}, "empty haystack"},
		{"template without context", "Text. ", needles, Settings{Grid: grid, Template: Template{Name: "x", Text: "{question}"}}, "no {context}"},
		{"too many probes", "Text. ", GenerateNeedles(1, 101), Settings{Grid: Grid{ContextLengths: LinearLengths(100, 10000, 100), Depths: LinearDepths(0, 100, 100)}, Template: raw},
			"probes: 100 context lengths x 100 depths x 101 needles = 1010000 probes, want at most 1000000"},
		{"too many lengths", "Text. ", needles, Settings{Grid: Grid{ContextLengths: make([]int, MaxGridPoints+1), Depths: []float64{1}}, Template: raw}, "10001 context lengths and 1 depths, want at most 10000"},
		{"context too long", "Text. ", needles, Settings{Grid: Grid{ContextLengths: []int{MaxLength + 1}, Depths: []float64{1}}, Template: raw}, "context length 16777217, want 1..16777216"},
	}
	for _, tt := range tests {
		if _, _, err := Build(tok, tt.haystack, tt.needles, tt.s); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Build error = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// A haystack shorter than the context is repeated, as the reference does.
func TestBuildRepeatsShortHaystack(t *testing.T) {
	tok := newWordTokenizer()
	raw, _ := TemplateFor("raw")
	s := Settings{Grid: Grid{ContextLengths: []int{200}, Depths: []float64{100}, Buffer: 10}, Template: raw}
	probes, skips, err := Build(tok, "One short sentence. ", GenerateNeedles(1, 1), s)
	if err != nil || len(skips) != 0 || len(probes) != 1 {
		t.Fatalf("Build = %d probes, %v, %v", len(probes), skips, err)
	}
	if got := strings.Count(probes[0].Prompt, "One short sentence ."); got < 40 {
		t.Errorf("haystack repeated %d times, want >= 40 for 190 tokens", got)
	}
}

func TestBuildDeterministic(t *testing.T) {
	raw, _ := TemplateFor("answer-prefix")
	s := Settings{Grid: Grid{ContextLengths: LinearLengths(100, 400, 3), Depths: LinearDepths(0, 100, 4), Buffer: 30}, Template: raw, AddSpecial: true}
	build := func(needleSeed, haystackSeed int64) []Probe {
		probes, skips, err := Build(newWordTokenizer(), GenerateHaystack(haystackSeed, 4000), GenerateNeedles(needleSeed, 2), s)
		if err != nil || len(skips) != 0 {
			t.Fatalf("Build: %v, skips %v", err, skips)
		}
		return probes
	}
	a := build(1, 1)
	if !reflect.DeepEqual(a, build(1, 1)) {
		t.Error("same seeds gave different probes")
	}
	for _, other := range [][]Probe{build(2, 1), build(1, 2)} {
		for i := range a {
			if a[i].Prompt == other[i].Prompt {
				t.Errorf("probe %d: a different seed gave the same prompt", i)
			}
		}
	}
}

// An answer that also occurs in the haystack is located in the needle,
// where the reference's first-match search would take the haystack's.
func TestBuildSpanPrefersNeedle(t *testing.T) {
	tok := newWordTokenizer()
	raw, _ := TemplateFor("raw")
	haystack := "The lavender fields were wide. " + GenerateHaystack(3, 3000)
	n := Needle{ID: "color", Needle: "The color of the kite is lavender.", Question: "What is the color of the kite?", Answer: "lavender"}
	s := Settings{Grid: Grid{ContextLengths: []int{300}, Depths: []float64{50, 100}, Buffer: 20}, Template: raw, AddSpecial: true}
	probes, skips, err := Build(tok, haystack, []Needle{n}, s)
	if err != nil || len(skips) != 0 {
		t.Fatalf("Build: %v, %v", err, skips)
	}
	for _, p := range probes {
		if first := slices.Index(p.IDs, tok.id("lavender")); first != 2 || p.SpanStart <= first {
			t.Errorf("depth %v: span at %d, first occurrence at %d: want the needle's, after the haystack's", p.Depth, p.SpanStart, first)
		}
		if got := tok.Decode(p.IDs[p.SpanStart-1 : p.SpanEnd+1]); got != "is lavender ." {
			t.Errorf("depth %v: span context %q", p.Depth, got)
		}
	}
}

func TestSpecCapLengths(t *testing.T) {
	lin := Spec{MinLength: 1000, MaxLength: 31500, Intervals: 20}
	// Under the whole grid: every length lowered, one left.
	got, n := lin.CapLengths(462)
	if g, err := (Spec{MinLength: got.MinLength, MaxLength: got.MaxLength, Intervals: got.Intervals, DepthIntervals: 1}).Grid(); err != nil || n != 20 || !reflect.DeepEqual(g.ContextLengths, []int{462}) {
		t.Errorf("cap 462: %+v (%d capped), lengths %v, %v", got, n, g.ContextLengths, err)
	}
	// Inside it: the spacing kept up to the cap, 19 of 20 above 1998.
	got, n = lin.CapLengths(1998)
	if got.MinLength != 1000 || got.MaxLength != 1998 || got.Intervals != 20 || n != 19 {
		t.Errorf("cap 1998: %+v, %d capped", got, n)
	}
	if same, n := lin.CapLengths(40000); n != 0 || !reflect.DeepEqual(same, lin) {
		t.Errorf("cap above the grid changed it: %+v, %d", same, n)
	}
	exp := Spec{Lengths: []int{256, 600, 700, 300}}
	if got, n := exp.CapLengths(500); n != 2 || !reflect.DeepEqual(got.Lengths, []int{256, 500, 300}) {
		t.Errorf("explicit: %v, %d capped", got.Lengths, n)
	}
}
