package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseMemAvailable(t *testing.T) {
	meminfo := "MemTotal:       24567780 kB\nMemFree:        23000000 kB\nMemAvailable:   23456789 kB\nBuffers:            1234 kB\n"
	if got, want := parseMemAvailable(bufio.NewScanner(strings.NewReader(meminfo))), int64(23456789)*1024; got != want {
		t.Errorf("MemAvailable = %d, want %d", got, want)
	}
	for _, bad := range []string{"", "MemTotal: 1 kB\n", "MemAvailable: lots kB\n", "MemAvailable: 12 MB\n"} {
		if got := parseMemAvailable(bufio.NewScanner(strings.NewReader(bad))); got != 0 {
			t.Errorf("%q: %d, want 0 (unknown)", bad, got)
		}
	}
}
