package model_test

import (
	"testing"

	"github.com/compresskv/compresskv/model"
)

// TestChunkEnd: chunks end at multiples of the chunk length from position
// 0, or where the prefill ends.
func TestChunkEnd(t *testing.T) {
	for _, tc := range []struct{ pos, end, chunk, want int }{
		{0, 1000, 512, 512},
		{500, 1000, 512, 512},
		{512, 1000, 512, 1000},
		{3, 12, 9, 9},
		{9, 12, 9, 12},
		{5, 7, 0, 6}, // chunk 0 is read as 1
	} {
		if got := model.ChunkEnd(tc.pos, tc.end, tc.chunk); got != tc.want {
			t.Errorf("ChunkEnd(%d, %d, %d) = %d, want %d", tc.pos, tc.end, tc.chunk, got, tc.want)
		}
	}
}
