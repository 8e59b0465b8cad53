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

// TestByteProgress: hashing a model's weights shows nothing below
// hashProgressMin; in logs, a first line, then one per tenth or 30 s with
// the rate and time left; on a terminal, a byte bar.
func TestByteProgress(t *testing.T) {
	var buf bytes.Buffer
	small := newByteProgress(&buf, false, "hashing weights")
	small.update(1<<20, hashProgressMin-1)
	small.finish()
	if buf.Len() != 0 {
		t.Errorf("a small model's hashing printed %q", buf.String())
	}

	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newByteProgress(&buf, false, "hashing weights")
	p.now = func() time.Time { return clock }
	p.start, p.lastLine = clock, clock
	const total = 16_000_000_000
	clock = clock.Add(time.Second)
	p.update(1_500_000_000, total) // under a tenth, under 30 s: the first line only
	clock = clock.Add(time.Second)
	p.update(3_000_000_000, total) // past a tenth: 3 GB in 2 s, 13 GB left
	clock = clock.Add(8 * time.Second)
	p.update(total, total)
	p.finish()
	want := "hashing weights: 16.0 GB, once per weight file (the sums are cached)\n" +
		"hashing weights 3.0/16.0 GB, 1.5 GB/s, ETA 9s\n" +
		"hashing weights 16.0/16.0 GB, 1.6 GB/s\n"
	if got := buf.String(); got != want {
		t.Errorf("log lines\n%q\nwant\n%q", got, want)
	}

	buf.Reset()
	bar := newByteProgress(&buf, true, "hashing weights")
	bar.update(4<<30, 8<<30)
	if out := buf.String(); !strings.Contains(out, "hashing weights") || !strings.Contains(out, "4.3/8.6 GB") {
		t.Errorf("bar output %q lacks the description and the bytes", out)
	}
	bar.finish()
}
