package needle

import (
	"os"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// TestTolstoyEmbedded checks the embedded haystack against the facts of the
// excerpt it was cut as: 160 041 bytes of UTF-8 (a few accented French words), from the first chapter
// heading to a paragraph end.
func TestTolstoyEmbedded(t *testing.T) {
	text := Tolstoy()
	if len(text) != 160041 {
		t.Fatalf("len(Tolstoy()) = %d, want 160041", len(text))
	}
	if !strings.HasPrefix(text, "CHAPTER I\n\n\"Well, Prince, so Genoa and Lucca") {
		t.Fatalf("Tolstoy() starts %q, want War and Peace's first chapter", text[:60])
	}
	if !strings.HasSuffix(text, "only I have nothing....\"\n") {
		t.Fatalf("Tolstoy() ends %q, want a paragraph end", text[len(text)-40:])
	}
	got, name, err := Spec{Haystack: TolstoyHaystack}.HaystackText(1000)
	if err != nil || name != "tolstoy" || got != text {
		t.Fatalf("HaystackText(tolstoy) = %d chars, %q, %v; want the embedded text named tolstoy", len(got), name, err)
	}
}

// TestTolstoyIsTheNovel checks the excerpt byte for byte against the novel
// in ../shared and that it holds the reference grid's longest context
// (31 500 tokens) in Llama 3 tokens, so that grid never repeats text.
func TestTolstoyIsTheNovel(t *testing.T) {
	novel, err := os.ReadFile(testshared.Require(t, "haystack/war-and-peace.txt"))
	if err != nil {
		t.Fatal(err)
	}
	text := Tolstoy()
	if !strings.HasPrefix(string(novel), text) {
		t.Fatal("the embedded excerpt is not the opening of ../shared/haystack/war-and-peace.txt")
	}
	tok := loadSharedTokenizer(t, "llama3")
	if n := len(tok.Encode(text, false)); n < 31500+200 {
		t.Fatalf("the excerpt is %d Llama 3 tokens, want >= 31700 (the reference grid's longest context)", n)
	}
}
