package needle

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestLoadNeedles(t *testing.T) {
	got, err := LoadNeedles("testdata/needles.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Needle{
		{ID: "line-1", Needle: "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n", Question: "What is the best thing to do in San Francisco?", Answer: "eat a sandwich and sit in Dolores Park on a sunny day"},
		{ID: "code", Needle: "The secret code of the Amber Harbor archive is 4817-KX.", Question: "What is the secret code of the Amber Harbor archive?", Answer: "4817-KX", Prefix: "The secret code of the Amber Harbor archive is"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadNeedles:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadNeedlesErrors(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"not json", "{\"needle\": \"a\", \"question\": \"b\", \"real_needle\": \"c\"}\nnot json\n", "bad.jsonl:2:"},
		{"missing answer", "{\"needle\": \"a\", \"question\": \"b\"}\n", "bad.jsonl:1: missing or empty field \"real_needle\""},
		{"missing question", "\n\n{\"needle\": \"a\", \"real_needle\": \"c\"}\n", "bad.jsonl:3: missing or empty field \"question\""},
		{"empty needle", "{\"needle\": \" \", \"question\": \"b\", \"real_needle\": \"c\"}\n", "bad.jsonl:1: missing or empty field \"needle\""},
		{"no lines", "\n\n", "no needles"},
		{"duplicate id", "{\"id\":\"x\",\"needle\":\"a\",\"question\":\"b\",\"real_needle\":\"c\"}\n{\"id\":\"x\",\"needle\":\"a\",\"question\":\"b\",\"real_needle\":\"c\"}\n", "needle id \"x\" used twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadNeedles(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadNeedles error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := LoadNeedles("testdata/does-not-exist.jsonl"); err == nil {
		t.Error("LoadNeedles of a missing file: no error")
	}
}

func FuzzParseNeedles(f *testing.F) {
	data, err := os.ReadFile("testdata/needles.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("{\"needle\": 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		needles, err := parseNeedles("fuzz.jsonl", data)
		if err != nil {
			return
		}
		for _, n := range needles {
			if strings.TrimSpace(n.Needle) == "" || strings.TrimSpace(n.Question) == "" || strings.TrimSpace(n.Answer) == "" || n.ID == "" {
				t.Fatalf("accepted an incomplete needle %+v", n)
			}
		}
	})
}

func TestGenerateNeedles(t *testing.T) {
	a := GenerateNeedles(7, 50)
	if len(a) != 50 {
		t.Fatalf("GenerateNeedles(7, 50) gave %d needles", len(a))
	}
	if !reflect.DeepEqual(a, GenerateNeedles(7, 50)) {
		t.Error("GenerateNeedles is not deterministic for a seed")
	}
	if got := GenerateNeedles(7, 3); !reflect.DeepEqual(got, a[:3]) {
		t.Error("GenerateNeedles(seed, 3) is not a prefix of GenerateNeedles(seed, 50)")
	}
	templates := map[string]bool{}
	for i, n := range a {
		if n.ID != "gen-7-"+strconv.Itoa(i) {
			t.Errorf("needle %d: ID %q", i, n.ID)
		}
		if !strings.HasPrefix(n.Needle, n.Prefix+" "+n.Answer) || !strings.HasSuffix(n.Needle, ".") {
			t.Errorf("needle %d: %q is not prefix %q + answer %q + '.'", i, n.Needle, n.Prefix, n.Answer)
		}
		if !strings.HasSuffix(n.Question, "?") || strings.Contains(n.Question, n.Answer) {
			t.Errorf("needle %d: question %q (answer %q)", i, n.Question, n.Answer)
		}
		templates[strings.Join(strings.Fields(n.Prefix)[:3], " ")] = true
	}
	if len(templates) < 4 {
		t.Errorf("50 needles use only %d sentence templates: %v", len(templates), templates)
	}
	seen := map[string]bool{}
	for _, n := range a {
		seen[n.Needle] = true
	}
	shared := 0
	for _, n := range GenerateNeedles(8, 50) {
		if seen[n.Needle] {
			shared++
		}
	}
	if shared > 2 {
		t.Errorf("seeds 7 and 8 share %d of 50 needle sentences, want (almost) disjoint sets", shared)
	}
	if got := GenerateNeedles(1, 0); len(got) != 0 {
		t.Errorf("GenerateNeedles(1, 0) = %v", got)
	}
}

func TestLoadHaystack(t *testing.T) {
	got, err := LoadHaystack("testdata/haystack")
	if err != nil {
		t.Fatal(err)
	}
	if want := "First file. Second file. It comes after the first.\n"; got != want {
		t.Errorf("LoadHaystack(folder) = %q, want %q (a.txt then b.txt, notes.md ignored)", got, want)
	}
	got, err = LoadHaystack("testdata/haystack/b.txt")
	if err != nil || got != "Second file. It comes after the first.\n" {
		t.Errorf("LoadHaystack(file) = %q, %v", got, err)
	}
	empty := t.TempDir()
	if _, err := LoadHaystack(empty); err == nil || !strings.Contains(err.Error(), "no non-empty .txt") {
		t.Errorf("LoadHaystack(empty folder) error = %v", err)
	}
	if _, err := LoadHaystack(filepath.Join(empty, "missing.txt")); err == nil {
		t.Error("LoadHaystack(missing file): no error")
	}
	blank := filepath.Join(empty, "blank.txt")
	if err := os.WriteFile(blank, []byte(" \n\t"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHaystack(blank); err == nil || err.Error() != "haystack "+blank+": file is empty, want text" {
		t.Errorf("LoadHaystack(blank file) error = %v", err)
	}
}

func TestGenerateHaystack(t *testing.T) {
	a := GenerateHaystack(3, 5000)
	if len(a) < 5000 || len(a) > 5400 {
		t.Errorf("GenerateHaystack(3, 5000) has %d chars", len(a))
	}
	if !strings.HasSuffix(a, ". ") {
		t.Errorf("haystack ends %q, want a sentence end \". \"", a[len(a)-10:])
	}
	if a != GenerateHaystack(3, 5000) {
		t.Error("GenerateHaystack is not deterministic for a seed")
	}
	if b := GenerateHaystack(4, 5000); a == b {
		t.Error("seeds 3 and 4 give the same haystack")
	}
	for i, s := range strings.Split(strings.TrimSuffix(a, ". "), ". ") {
		if s == "" || s[0] < 'A' || s[0] > 'Z' {
			t.Fatalf("sentence %d %q does not start with a capital", i, s)
		}
	}
	if GenerateHaystack(1, 0) != "" {
		t.Error("GenerateHaystack(1, 0) is not empty")
	}
}

func TestWithDistractors(t *testing.T) {
	facts := []Needle{{Needle: "The code is 7."}, {Needle: " The key is blue. "}}
	got := WithDistractors("Aa bb. Cc dd. Ee ff. Gg hh.", facts)
	want := "Aa bb. Cc dd. The code is 7. Ee ff. The key is blue. Gg hh."
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := WithDistractors("no sentence end here", facts[:1]); got != "no sentence The code is 7. end here" {
		t.Errorf("without a sentence end: %q", got)
	}
	if got := WithDistractors("Aa. Bb.", nil); got != "Aa. Bb." {
		t.Errorf("no facts: %q", got)
	}
}
