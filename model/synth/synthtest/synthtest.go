// Package synthtest writes the built-in synthetic model for tests of the
// packages above model (package synth's own tests cannot import it: it
// imports synth).
package synthtest

import (
	"testing"

	"github.com/compresskv/compresskv/model/synth"
)

// Write writes the synthetic model made with opts into a fresh temporary
// folder of the test and returns the folder and what was planted in it.
func Write(t testing.TB, opts synth.Options) (string, *synth.Info) {
	t.Helper()
	dir := t.TempDir()
	info, err := synth.Write(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return dir, info
}
