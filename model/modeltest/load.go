package modeltest

import (
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/tokenizer"
)

// Load loads the checkpoint in dir (f32 compute) and the tokenizer beside
// it, failing the test on any error; the model is closed when the test ends.
func Load(t testing.TB, dir string) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	m, err := model.Load(dir, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}
