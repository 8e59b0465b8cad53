package needle

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// referenceProbeLine is one line of fixtures/reference-probes/<tokenizer>.jsonl:
// a probe as a port of the reference's code built it.
type referenceProbeLine struct {
	Needle        int     `json:"needle"`
	ContextLength int     `json:"context_length"`
	Depth         float64 `json:"depth"`
	InputIDs      []int   `json:"input_ids"`
	Span          [2]int  `json:"span"`
	InsertAt      int     `json:"insert_at"`
}

// referenceFixture loads the fixture's needles (each naming its haystack
// file, which must be the same for all of them: Build takes one haystack)
// and the haystack text.
func referenceFixture(t *testing.T) (dir string, needles []Needle, haystack string) {
	t.Helper()
	dir = testshared.Require(t, "fixtures/reference-probes")
	path := filepath.Join(dir, "needles.jsonl")
	needles, err := LoadNeedles(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var l struct{ Haystack string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if i > 0 && l.Haystack != name {
			t.Fatalf("%s: needles name haystacks %q and %q; the test builds with one", path, name, l.Haystack)
		}
		name = l.Haystack
	}
	haystack, err = LoadHaystack(testshared.Require(t, "haystack/"+name))
	if err != nil {
		t.Fatal(err)
	}
	return dir, needles, haystack
}

func readReferenceProbes(t *testing.T, path string) []referenceProbeLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []referenceProbeLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var l referenceProbeLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, len(lines)+1, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestBuildReferenceFixtures is the acceptance test of CompatReference:
// every probe of fixtures/reference-probes (the reference's code, ported,
// run on the shared Llama 3 and Mistral tokenizers) has the same prompt
// ids, answer span and insertion point, in the same order.
func TestBuildReferenceFixtures(t *testing.T) {
	dir, needles, haystack := referenceFixture(t)
	raw, err := TemplateFor("raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"llama3", "mistral"} {
		t.Run(name, func(t *testing.T) {
			tok := loadSharedTokenizer(t, name)
			want := readReferenceProbes(t, filepath.Join(dir, name+".jsonl"))
			var lengths []int
			var depths []float64
			for _, w := range want {
				if !slices.Contains(lengths, w.ContextLength) {
					lengths = append(lengths, w.ContextLength)
				}
				if !slices.Contains(depths, w.Depth) {
					depths = append(depths, w.Depth)
				}
			}
			s := Settings{Grid: Grid{ContextLengths: lengths, Depths: depths, Buffer: DefaultBuffer}, Template: raw, AddSpecial: true, Compat: CompatReference}
			probes, skips, err := Build(tok, haystack, needles, s)
			if err != nil {
				t.Fatal(err)
			}
			if len(skips) != 0 || len(probes) != len(want) {
				t.Fatalf("%d probes and %d skips, want %d probes", len(probes), len(skips), len(want))
			}
			unfound := 0
			for i, w := range want {
				p := probes[i]
				where := fmt.Sprintf("needle %d length %d depth %v", w.Needle, w.ContextLength, w.Depth)
				if p.NeedleID != needles[w.Needle].ID || p.ContextLength != w.ContextLength || p.Depth != w.Depth || p.Index != i {
					t.Fatalf("probe %d is %s/%d/%v (index %d), want %s", i, p.NeedleID, p.ContextLength, p.Depth, p.Index, where)
				}
				if !slices.Equal(p.IDs, w.InputIDs) {
					at := 0
					for at < min(len(p.IDs), len(w.InputIDs)) && p.IDs[at] == w.InputIDs[at] {
						at++
					}
					t.Errorf("%s: %d prompt ids, want %d; first difference at %d: got %v, want %v", where, len(p.IDs), len(w.InputIDs), at,
						p.IDs[at:min(at+6, len(p.IDs))], w.InputIDs[at:min(at+6, len(w.InputIDs))])
				}
				if got := [2]int{p.SpanStart, p.SpanEnd}; got != w.Span {
					t.Errorf("%s: span %v, want %v", where, got, w.Span)
				}
				if p.InsertAt != w.InsertAt {
					t.Errorf("%s: insertion point %d, want %d", where, p.InsertAt, w.InsertAt)
				}
				if w.Span[0] < 0 {
					unfound++
				}
			}
			t.Logf("%d probes identical, %d of them with the reference's span [-1,-1]", len(want), unfound)
		})
	}
}

// TestBuildDefaultKeepsReferenceNeedles: compresskv's own construction
// finds a span for every probe of the fixture's three needles, including
// the one whose answer ("Because ...") differs in case from the needle
// text ("... because ..."), and the span decodes to the answer.
func TestBuildDefaultKeepsReferenceNeedles(t *testing.T) {
	_, needles, haystack := referenceFixture(t)
	raw, err := TemplateFor("raw")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"llama3", "mistral"} {
		t.Run(name, func(t *testing.T) {
			tok := loadSharedTokenizer(t, name)
			s := Settings{Grid: Grid{ContextLengths: []int{1000, 2000, 4000}, Depths: []float64{0, 25, 50, 75, 100}, Buffer: DefaultBuffer}, Template: raw, AddSpecial: true}
			probes, skips, err := Build(tok, haystack, needles, s)
			if err != nil {
				t.Fatal(err)
			}
			for _, sk := range skips {
				t.Errorf("skipped %s length %d depth %v: %s", sk.NeedleID, sk.ContextLength, sk.Depth, sk.Reason)
			}
			perNeedle := map[string]int{}
			for _, p := range probes {
				perNeedle[p.NeedleID]++
				span := strings.ToLower(normalizeSpace(tok.Decode(p.IDs[p.SpanStart:p.SpanEnd])))
				if !strings.Contains(span, strings.ToLower(p.Answer)) {
					t.Errorf("%s length %d depth %v: span decodes to %q, want it to contain %q", p.NeedleID, p.ContextLength, p.Depth, span, p.Answer)
				}
			}
			for _, n := range needles {
				if perNeedle[n.ID] != 15 {
					t.Errorf("needle %s: %d probes, want 15", n.ID, perNeedle[n.ID])
				}
			}
		})
	}
}
