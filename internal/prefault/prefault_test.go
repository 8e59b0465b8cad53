package prefault

import (
	"slices"
	"testing"
)

func TestMake(t *testing.T) {
	for _, c := range []struct{ n, c int }{{0, 0}, {5, 3}, {10, 100}, {1 << 19, 1 << 19}} {
		s := Make[float32](c.n, c.c)
		if len(s) != c.n || cap(s) < max(c.n, c.c) {
			t.Fatalf("Make(%d, %d): len %d cap %d", c.n, c.c, len(s), cap(s))
		}
		for i, v := range s[:cap(s)] {
			if v != 0 {
				t.Fatalf("Make(%d, %d)[%d] = %v, want 0", c.n, c.c, i, v)
			}
		}
	}
}

func TestGrow(t *testing.T) {
	s := []uint16{1, 2, 3}
	g := Grow(s, 1<<20)
	if !slices.Equal(g, s) || cap(g)-len(g) < 1<<20 {
		t.Fatalf("Grow: %v (cap %d), want [1 2 3] with room for 2^20 more", g[:min(len(g), 4)], cap(g))
	}
	if h := Grow(g, 10); &h[0] != &g[0] {
		t.Fatal("Grow reallocated a slice that had room")
	}
	// Repeated growth by one grows geometrically (by a quarter), as
	// append does for large slices.
	var x []float32
	allocs := 0
	for i := 0; i < 1<<21; i++ {
		y := Grow(x, 1)
		if cap(y) != cap(x) {
			allocs++
		}
		x = append(y, 1)
	}
	if allocs > 100 {
		t.Fatalf("growing by one to 2^21 elements reallocated %d times, want about 65", allocs)
	}
}
