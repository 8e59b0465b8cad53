package needle

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model/tokenizer"
)

// loadSharedTokenizer loads a real tokenizer from ../shared/tokenizers.
func loadSharedTokenizer(t *testing.T, name string) Tokenizer {
	t.Helper()
	dir := testshared.Require(t, "tokenizers/"+name)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatalf("tokenizer.Load(%s): %v", dir, err)
	}
	return tok
}

// TestBuildSharedTokenizers is the acceptance test on real tokenizers and
// War and Peace: every probe is within 1 % (or 20 tokens) of the
// reference's length (context length - buffer, plus the template), its
// span decodes to text containing the answer, and the needle sits right
// after a sentence end, at every depth but 0, where it comes first.
func TestBuildSharedTokenizers(t *testing.T) {
	haystack, err := LoadHaystack(testshared.Require(t, "haystack/war-and-peace.txt"))
	if err != nil {
		t.Fatal(err)
	}
	needles, err := LoadNeedles("testdata/needles.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	needles = append(needles, GenerateNeedles(11, 3)...)
	tests := []struct {
		tokenizer string
		lengths   []int
	}{
		{"llama3", []int{1000, 4000, 8000, 16000}},
		{"mistral", []int{1000, 4000}},
	}
	for _, tt := range tests {
		t.Run(tt.tokenizer, func(t *testing.T) {
			tok := loadSharedTokenizer(t, tt.tokenizer)
			for _, name := range []string{"raw", "answer-prefix"} {
				tmpl, err := TemplateFor(name)
				if err != nil {
					t.Fatal(err)
				}
				s := Settings{Grid: Grid{ContextLengths: tt.lengths, Depths: LinearDepths(0, 100, 5), Buffer: DefaultBuffer}, Template: tmpl, AddSpecial: true}
				probes, skips, err := Build(tok, haystack, needles, s)
				if err != nil {
					t.Fatal(err)
				}
				if len(skips) > 0 {
					t.Errorf("%s: %d skips, first %+v", name, len(skips), skips[0])
				}
				for _, p := range probes {
					checkSharedProbe(t, tok, tmpl, needles, p, s.Grid.Buffer)
				}
			}
		})
	}
}

func checkSharedProbe(t *testing.T, tok Tokenizer, tmpl Template, needles []Needle, p Probe, buffer int) {
	t.Helper()
	var n Needle
	for _, c := range needles {
		if c.ID == p.NeedleID {
			n = c
		}
	}
	where := fmt.Sprintf("%s/%s length %d depth %v", tmpl.Name, p.NeedleID, p.ContextLength, p.Depth)
	overhead := len(tok.Encode(tmpl.Render("", n.Question, n.Prefix), true))
	want := p.ContextLength - buffer + overhead
	if diff := math.Abs(float64(len(p.IDs) - want)); diff > max(0.01*float64(p.ContextLength), 20) {
		t.Errorf("%s: %d prompt tokens, want %d within 1 %% or 20", where, len(p.IDs), want)
	}
	if span := normalizeSpace(tok.Decode(p.IDs[p.SpanStart:p.SpanEnd])); !strings.Contains(span, normalizeSpace(n.Answer)) {
		t.Errorf("%s: span [%d,%d) decodes to %q, want it to contain %q", where, p.SpanStart, p.SpanEnd, span, n.Answer)
	}
	framed := frameNeedle(n.Needle)
	at := strings.Index(p.Prompt, framed)
	if at < 0 {
		t.Fatalf("%s: needle text not in the prompt", where)
	}
	before := strings.TrimRight(p.Prompt[:at], " ")
	switch {
	case p.Depth == 0 && at != 0:
		t.Errorf("%s: depth 0 but %d bytes precede the needle", where, at)
	case p.Depth > 0 && !strings.HasSuffix(before, "."):
		t.Errorf("%s: needle follows %q, want a sentence end", where, before[max(0, len(before)-30):])
	}
	// The span lies inside the needle.
	needleStart := len(tok.Encode(p.Prompt[:at], true))
	if p.SpanStart < needleStart-2 || p.SpanEnd > needleStart+len(tok.Encode(framed, false))+2 {
		t.Errorf("%s: span [%d,%d) outside the needle at token %d", where, p.SpanStart, p.SpanEnd, needleStart)
	}
}
