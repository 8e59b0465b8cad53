package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
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

	// Not a terminal: a plain line every tenth of the items or every 30 s.
	buf.Reset()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	logBar := newProgressBar(&buf, false, "probes")
	logBar.now = func() time.Time { return clock }
	logBar.start, logBar.lastLine = clock, clock
	clock = clock.Add(10 * time.Second)
	logBar.update(20, 600, 20, 0) // resumed only: nothing computed yet
	logBar.update(142, 600, 20, 1_200_000)
	clock = clock.Add(5 * time.Second)
	logBar.update(143, 600, 20, 1_210_000) // neither 30 s nor a tenth later
	clock = clock.Add(30 * time.Second)
	logBar.update(144, 600, 20, 1_220_000)
	logBar.finish()
	// 122 probes computed in 10 s: the 458 left take 37.5 s; then 124 in
	// 45 s: the 456 left take 165.5 s; 1.22M tokens in 45 s = 27111 tok/s.
	want := "probe 142/600, 1.2M tokens, 120000 tok/s, ETA 38s\nprobe 144/600, 1.2M tokens, 27111 tok/s, ETA 2m45s\n"
	if got := buf.String(); got != want {
		t.Errorf("log lines\n%q\nwant\n%q", got, want)
	}
}
