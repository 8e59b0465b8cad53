package kernels

import (
	"testing"
	"time"
)

// TestBestTime: one warm-up call, then at least 3 timed runs and at most
// 10, and the fastest is returned.
func TestBestTime(t *testing.T) {
	calls := 0
	delays := []time.Duration{0, 3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	best := BestTime(func() {
		if calls < len(delays) {
			time.Sleep(delays[calls])
		}
		calls++
	})
	if calls != 11 {
		// 3 runs of a few ms leave the 0.3 s unreached, so all 10 runs are made.
		t.Errorf("f called %d times, want 11 (a warm-up and 10 runs)", calls)
	}
	if best > 0.001 {
		t.Errorf("best time %g s: want the fastest run (the calls after the fourth sleep nothing)", best)
	}
}
