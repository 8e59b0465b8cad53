package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/compresskv/compresskv/internal/testshared"
)

// referenceLine is one line of tokenizers/<name>/reference.jsonl, computed
// by Hugging Face's own implementation.
type referenceLine struct {
	Text           string `json:"text"`
	IDs            []int  `json:"ids"`
	IDsWithSpecial []int  `json:"ids_with_special"`
}

func readReference(t *testing.T, path string) []referenceLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []referenceLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l referenceLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestReferenceEncodings checks every reference line of the real Llama 3
// and Mistral tokenizers: ids, ids with the post-processor, and the
// round trip decode(ids) == text for valid UTF-8 text.
func TestReferenceEncodings(t *testing.T) {
	for _, name := range []string{"llama3", "mistral"} {
		t.Run(name, func(t *testing.T) {
			dir := testshared.Require(t, "tokenizers/"+name)
			tok, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			lines := readReference(t, filepath.Join(dir, "reference.jsonl"))
			if len(lines) != 76 {
				t.Errorf("reference.jsonl has %d lines, want 76", len(lines))
			}
			for i, l := range lines {
				short := l.Text
				if len(short) > 40 {
					short = short[:40] + "..."
				}
				if got := tok.Encode(l.Text, false); !slices.Equal(got, l.IDs) {
					t.Errorf("line %d %q: ids\n got %v\nwant %v", i+1, short, got, l.IDs)
				}
				if got := tok.Encode(l.Text, true); !slices.Equal(got, l.IDsWithSpecial) {
					t.Errorf("line %d %q: ids_with_special\n got %v\nwant %v", i+1, short, got, l.IDsWithSpecial)
				}
				if utf8.ValidString(l.Text) {
					if got := tok.Decode(l.IDs); got != l.Text {
						t.Errorf("line %d: decode(ids) = %q, want %q", i+1, got, l.Text)
					}
				}
			}
		})
	}
}
