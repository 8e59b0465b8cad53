package synth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model/tokenizer"
)

func TestTrainMerges(t *testing.T) {
	// Pair counts: "a b" 2, "b c" 2 -> tie, the smaller string first; then
	// "ab c" 1 and "b c" 1 -> "ab c"; then "b c".
	words := [][]string{{"a", "b", "c"}, {"a", "b"}, {"b", "c"}}
	got := trainMerges(words)
	want := []string{"a b", "ab c", "b c"}
	if !slices.Equal(got, want) {
		t.Errorf("trainMerges = %q, want %q", got, want)
	}
	for i, w := range words {
		if len(w) != 1 {
			t.Errorf("word %d still has pieces %q", i, w)
		}
	}
}

func TestByteAlphabet(t *testing.T) {
	table, order := byteAlphabet()
	if len(order) != 256 || order[0] != '!' || table[' '] != 'Ġ' || table['\n'] != 'Ċ' || table['a'] != 'a' {
		t.Fatalf("alphabet: %d bytes, first %q, space -> %q, newline -> %q", len(order), order[0], table[' '], table['\n'])
	}
	seen := map[rune]bool{}
	for _, r := range table {
		if seen[r] {
			t.Fatalf("rune %q stands for two bytes", r)
		}
		seen[r] = true
	}
}

// TestVocabularyWords checks that every listed word is one token under the
// merges alone (so the file works with ignore_merges on or off), and that
// pieces are laid out as GPT-2 / Llama 3 do: bytes, merges, specials.
func TestVocabularyWords(t *testing.T) {
	v := buildVocabulary()
	table, order := byteAlphabet()
	for i, b := range order {
		if v.pieces[i] != string(table[b]) {
			t.Fatalf("id %d = %q, want byte %#x", i, v.pieces[i], b)
		}
	}
	if v.bos != v.size()-2 || v.eos != v.size()-1 || v.pieces[v.bos] != bosToken {
		t.Errorf("specials at %d, %d of %d", v.bos, v.eos, v.size())
	}
	if len(v.pieces) != 256+len(v.merges)+2 {
		t.Errorf("%d pieces for %d merges", len(v.pieces), len(v.merges))
	}
	rank := v.ranks()
	for _, w := range vocabWords() {
		if got := v.encodeWord(byteSymbols(&table, w), rank); len(got) != 1 {
			t.Errorf("%q encodes to %q, want one token", w, got)
		}
	}
}

func TestTokenizerFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, Options{Seed: 1, Layers: 2}); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	pieces := func(text string) []string {
		var out []string
		for _, id := range tok.Encode(text, false) {
			out = append(out, tok.Decode([]int{id}))
		}
		return out
	}
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"The secret code of the Amber Harbor archive is 4817-KX.\nThe",
			[]string{"The", " secret", " code", " of", " the", " Amber", " Harbor", " archive", " is", " ", "48", "1", "7", "-", "K", "X", ".\n", "The"}},
		{"What is the color of Ilsa Quarrington's umbrella?",
			[]string{"What", " is", " the", " color", " of", " Ilsa", " Quarrington", "'s", " umbrella", "?"}},
		{"The old farmer repaired the broken fence slowly. ",
			[]string{"The", " old", " farmer", " repaired", " the", " broken", " fence", " slowly", ".", " "}},
	} {
		if got := pieces(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("pieces of %q = %q, want %q", tc.text, got, tc.want)
		}
	}
	for _, text := range []string{"Pierre Bezúkhov smiled, 1812!", "日本語 and emoji 🦙\r\n\ttabs", "  spaces  "} {
		if got := tok.Decode(tok.Encode(text, false)); got != text {
			t.Errorf("Decode(Encode(%q)) = %q", text, got)
		}
	}
	if ids := tok.Encode("Hi", true); len(ids) == 0 || ids[0] != buildVocabulary().bos {
		t.Errorf("Encode with specials = %v, want BOS first", ids)
	}

	// The split pattern must be Llama 3's, as in the real tokenizer.json.
	var ours struct {
		PreTokenizer struct {
			Pretokenizers []struct {
				Pattern struct{ Regex string } `json:"pattern"`
			} `json:"pretokenizers"`
		} `json:"pre_tokenizer"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ours); err != nil || ours.PreTokenizer.Pretokenizers[0].Pattern.Regex != splitPattern {
		t.Fatalf("tokenizer.json pre_tokenizer: %v, %+v", err, ours.PreTokenizer)
	}
	llama3 := testshared.Require(t, "tokenizers/llama3/tokenizer.json")
	real, err := os.ReadFile(llama3)
	if err != nil {
		t.Fatal(err)
	}
	var theirs = ours
	if err := json.Unmarshal(real, &theirs); err != nil {
		t.Fatal(err)
	}
	if got := theirs.PreTokenizer.Pretokenizers[0].Pattern.Regex; got != splitPattern {
		t.Errorf("Llama 3 split pattern is %q, ours %q", got, splitPattern)
	}
}
