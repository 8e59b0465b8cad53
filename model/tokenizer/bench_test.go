package tokenizer

import (
	"os"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// benchText returns 1 MB of the War and Peace haystack when ../shared is
// present, else generated English-like text.
func benchText(b *testing.B) string {
	if p := testshared.Path("haystack/war-and-peace.txt"); p != "" {
		data, err := os.ReadFile(p)
		if err == nil && len(data) > 1<<20 {
			return strings.ToValidUTF8(string(data[:1<<20]), "")
		}
	}
	words := []string{"the", "prince", "said", "Anna", "Pavlovna,", "with", "a", "smile.", "\n\n", "1812", "—", "«Mais»", "it's", "  "}
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		sb.WriteString(words[(i*7+i/3)%len(words)])
		sb.WriteByte(' ')
	}
	return sb.String()
}

// BenchmarkEncode reports encode throughput in MB/s for each tokenizer
// layout; the first pass fills the word cache, as a long run would.
func BenchmarkEncode(b *testing.B) {
	text := benchText(b)
	for _, name := range []string{"tokenizers/llama3", "tokenizers/mistral"} {
		b.Run(strings.TrimPrefix(name, "tokenizers/"), func(b *testing.B) {
			tok, err := Load(testshared.Require(b, name))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for b.Loop() {
				tok.Encode(text, false)
			}
		})
	}
	b.Run("qwen2-fixture", func(b *testing.B) {
		tok, err := Load("testdata/qwen2")
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			tok.Encode(text, false)
		}
	})
}
