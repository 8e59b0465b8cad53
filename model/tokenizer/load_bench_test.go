package tokenizer

import (
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// BenchmarkLoad measures reading the 9 MB Llama 3 tokenizer.json.
func BenchmarkLoad(b *testing.B) {
	dir := testshared.Require(b, "tokenizers/llama3")
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
