package kernels

import (
	"sync/atomic"
	"testing"
)

// TestParallelFor checks that every item runs exactly once, that worker
// indices stay below the requested count, and that no two goroutines hold
// the same worker index at the same time (callers index scratch by it).
func TestParallelFor(t *testing.T) {
	defer SetThreads(Threads())
	for _, c := range []struct{ threads, workers, n int }{
		{1, 4, 10}, {2, 2, 1}, {2, 2, 0}, {2, 8, 1000}, {4, 3, 97}, {4, 1, 50},
	} {
		SetThreads(c.threads)
		counts := make([]atomic.Int32, c.n)
		limit := min(c.threads, c.workers, max(c.n, 1))
		busy := make([]atomic.Int32, limit)
		var bad atomic.Int32
		ParallelFor(c.n, c.workers, func(worker, i int) {
			if worker < 0 || worker >= limit {
				bad.Add(1)
				return
			}
			if busy[worker].Add(1) != 1 {
				bad.Add(1)
			}
			counts[i].Add(1)
			busy[worker].Add(-1)
		})
		if bad.Load() != 0 {
			t.Errorf("threads=%d workers=%d n=%d: %d calls with a worker index out of range or shared", c.threads, c.workers, c.n, bad.Load())
		}
		for i := range counts {
			if got := counts[i].Load(); got != 1 {
				t.Fatalf("threads=%d workers=%d n=%d: item %d ran %d times", c.threads, c.workers, c.n, i, got)
			}
		}
	}
}
