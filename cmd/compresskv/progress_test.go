package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgressBar: a bar shows done/total, the token rate and the time
// left; a disabled one (stderr not a terminal) writes nothing at all.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	bar := newProgressBar(&buf, true, "probes")
	bar.update(2, 10, 2, 0) // resumed from a checkpoint
	bar.update(5, 10, 2, 1200)
	bar.finish()
	out := buf.String()
	for _, want := range []string{"probes", "5/10", "tok/s", "ETA"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output %q lacks %q", out, want)
		}
	}

	buf.Reset()
	quiet := newProgressBar(&buf, false, "probes")
	quiet.update(5, 10, 0, 100)
	quiet.finish()
	if buf.Len() != 0 {
		t.Errorf("disabled bar wrote %q", buf.String())
	}
}
