package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model/synth"
)

func runSynthArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"synth"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestSynthCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	code, out, errOut := runSynthArgs(t, "--out", dir, "--seed", "4", "--layers", "3")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, name := range synth.Files {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	o := synth.Options{Seed: 4, Layers: 3}
	var want []string
	for _, h := range synth.Planted(o) {
		want = append(want, "layer "+strconv.Itoa(h.Layer)+" head "+strconv.Itoa(h.Head))
	}
	if !strings.Contains(out, "planted retrieval heads: "+strings.Join(want, ", ")+"\n") {
		t.Errorf("output does not name the planted heads %v:\n%s", want, out)
	}
	heads, _ := synth.Heads(o)
	if got := strings.Count(out, "\n"); got < len(heads)+3 {
		t.Errorf("output has %d lines, want a row per head (%d):\n%s", got, len(heads), out)
	}

	code, out, errOut = runSynthArgs(t, "--out", dir, "--seed", "4", "--layers", "3", "--json")
	if code != exitOK {
		t.Fatalf("--json: exit %d, stderr %s", code, errOut)
	}
	var info synth.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("--json output is not an Info: %v\n%s", err, out)
	}
	if info.Seed != 4 || info.Layers != 3 || len(info.Heads) != len(heads) || len(info.Retrieval) != 2 || len(info.Files) != len(synth.Files) {
		t.Errorf("--json: %+v", info)
	}
	for layer, head := range synth.RetrievalHeads(o) {
		if info.Retrieval[layer] != head {
			t.Errorf("--json: retrieval %v, want layer %d head %d", info.Retrieval, layer, head)
		}
	}
}

func TestSynthUsage(t *testing.T) {
	for _, args := range [][]string{
		{},                                       // no --out
		{"--out", t.TempDir(), "--layers", "1"},  // too few layers
		{"--out", t.TempDir(), "--layers", "99"}, // too many
		{"--out", t.TempDir(), "extra"},          // stray argument
	} {
		if code, _, errOut := runSynthArgs(t, args...); code != exitUsage {
			t.Errorf("synth %v: exit %d (stderr %q), want %d", args, code, errOut, exitUsage)
		}
	}
}
