package modeltest

import (
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/synth"
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

// WriteSynth writes the built-in synthetic model made with opts into a
// fresh temporary folder of the test and returns the folder and what was
// planted in it.
func WriteSynth(t testing.TB, opts synth.Options) (string, *synth.Info) {
	t.Helper()
	dir := t.TempDir()
	info, err := synth.Write(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return dir, info
}
