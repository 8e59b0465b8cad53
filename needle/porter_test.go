package needle

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestPorterStemNLTK checks every row of testdata/porter_nltk.tsv, made by
// NLTK 3.8's PorterStemmer() (default mode NLTK_EXTENSIONS) on words of
// War and Peace chosen per suffix rule plus the paper's and NLTK's special
// cases.
func TestPorterStemNLTK(t *testing.T) {
	f, err := os.Open("testdata/porter_nltk.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows := 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || text == "" {
			continue
		}
		word, want, ok := strings.Cut(text, "\t")
		if !ok {
			t.Fatalf("porter_nltk.tsv:%d: want word<TAB>stem, got %q", line, text)
		}
		rows++
		if got := PorterStem(word); got != want {
			t.Errorf("PorterStem(%q) = %q, NLTK gives %q", word, got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows < 300 {
		t.Fatalf("porter_nltk.tsv has %d rows, want >= 300", rows)
	}
}

// TestPorterStemRules pins the NLTK-only rules by hand, so a failure names
// the rule.
func TestPorterStemRules(t *testing.T) {
	tests := []struct{ word, want, rule string }{
		{"skies", "sky", "irregular-form pool"},
		{"dying", "die", "irregular-form pool"},
		{"ties", "tie", "ies on a four-letter word -> ie"},
		{"ponies", "poni", "ies -> i"},
		{"died", "die", "ied on a four-letter word -> ie"},
		{"spied", "spi", "ied -> i"},
		{"is", "is", "two letters are left alone"},
		{"enjoy", "enjoy", "y -> i only after a consonant"},
		{"cry", "cri", "y -> i after a consonant that is not the first letter"},
		{"by", "by", "two letters are left alone"},
		{"feed", "feed", "eed needs m > 0"},
		{"agreed", "agre", "eed -> ee, then step 5a drops the e"},
		{"hopping", "hop", "double consonant -> single"},
		{"falling", "fall", "double l is kept"},
		{"filing", "file", "m=1 and *o -> e"},
		{"radically", "radic", "alli handled first"},
		{"archaeology", "archaeolog", "logi -> log"},
		{"controlling", "control", "step 5b"},
	}
	for _, tt := range tests {
		if got := PorterStem(tt.word); got != tt.want {
			t.Errorf("PorterStem(%q) = %q, want %q (%s)", tt.word, got, tt.want, tt.rule)
		}
	}
}

func TestRouge1Recall(t *testing.T) {
	tests := []struct {
		name                string
		response, reference string
		want                float64
	}{
		{"identical", "eat a sandwich", "eat a sandwich", 1},
		{"stemmed plural", "I sat in the parks", "park", 1},
		{"stemmed past tense", "She walked home", "walk home", 1},
		{"case and punctuation", "THE CODE: 4817-KX!", "the code is 4817-kx", 0.8}, // the, code, 4817, kx of the, code, is, 4817, kx
		{"empty response", "", "a fact", 0},
		{"empty reference", "anything", "", 0},
		{"reference of punctuation only", "x", "?!", 0},
		// Reference counts bound the overlap: "the" twice in the
		// reference, once in the response.
		{"repeated reference word", "the cat", "the the cat", 2.0 / 3},
		// Response repeats do not add overlap beyond the reference count.
		{"repeated response word", "park park park", "park bench", 0.5},
		{"disjoint", "nothing here", "completely different", 0},
		// "sitting" -> "sit", "sunny" -> "sunni" on both sides.
		{"reference needle", "Eat a sandwich and sit in Dolores Park on a sunny day.", "eat a sandwich and sit in Dolores Park on a sunny day", 1},
		{"partial", "sitting in Dolores Park", "eat a sandwich and sit in Dolores Park on a sunny day", 4.0 / 12},
		// Short tokens are not stemmed: "cats" (4 letters) -> "cat", "is"
		// stays, so "cats is" matches "cat is".
		{"short tokens unstemmed", "cats is", "cat is", 1},
		{"digits and letters stay one token", "code 4817KX", "4817kx", 1},
		{"hyphen splits", "4817 KX", "4817-KX", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Rouge1Recall(tt.response, tt.reference)
			if diff := got - tt.want; diff > 1e-12 || diff < -1e-12 {
				t.Errorf("Rouge1Recall(%q, %q) = %v, want %v", tt.response, tt.reference, got, tt.want)
			}
		})
	}
}

func TestRougeTokens(t *testing.T) {
	got := strings.Join(rougeTokens("Hello, WORLD!! It's 2024: the runners ran."), " ")
	want := "hello world it s 2024 the runner ran"
	if got != want {
		t.Errorf("rougeTokens = %q, want %q", got, want)
	}
}

func TestExactMatch(t *testing.T) {
	for _, tc := range []struct {
		response, reference string
		want                bool
	}{
		{"blue heron.", "Blue Heron", true},
		{"It is the blue heron, clearly", "blue heron", true},
		{"heron blue", "blue heron", false},     // order matters
		{"blue and heron", "blue heron", false}, // contiguous
		{"running herons", "run heron", true},   // Porter stems on both sides
		{"blue", "blue heron", false},
		{"anything", "...", false}, // a reference without words never matches
	} {
		if got := ExactMatch(tc.response, tc.reference); got != tc.want {
			t.Errorf("ExactMatch(%q, %q) = %v, want %v", tc.response, tc.reference, got, tc.want)
		}
	}
}
