package model

import (
	"fmt"

	"github.com/compresskv/compresskv/internal/prefault"
)

// Compressed returns a new session whose KV cache is a gathered copy of
// s's: layer l, KV head g holds only the positions keep[l][g] (ascending,
// distinct, each < s.Len()), every KV head of a layer the same number of
// them. The new session continues at position s.Len(): the kept keys keep
// the rotation of their original positions, new tokens are rotated by
// their true positions and appended after the kept rows, and attention
// reads every row of a layer's cache (a sliding window is not applied to
// the gathered rows). This is KV-cache eviction after prefill (SnapKV,
// PyramidKV, CompressKV, StreamingLLM): layers may keep different counts,
// KV heads of a layer different positions. s is not changed, so one full
// prefill serves any number of compressed copies.
//
// Observers of a compressed session see cache indices, not positions, in
// DecodeView.Pos and the lengths of Probs rows.
func (s *Session) Compressed(keep [][][]int) (*Session, error) {
	cfg := s.m.config
	if len(keep) != cfg.NumLayers {
		return nil, fmt.Errorf("compressed cache: %d layers of kept positions, model has %d", len(keep), cfg.NumLayers)
	}
	n := s.Len()
	if n == 0 || !s.hasLast {
		return nil, fmt.Errorf("compressed cache: the session holds nothing to continue from")
	}
	if s.evicted != nil {
		return nil, fmt.Errorf("compressed cache: the session is already compressed; compress the full one")
	}
	c := s.m.newSession(s.opts)
	c.evicted = make([]int, cfg.NumLayers)
	for l, heads := range keep {
		src := s.caches[l]
		if len(heads) != src.kvHeads {
			return nil, fmt.Errorf("compressed cache: layer %d: %d KV heads of kept positions, model has %d", l, len(heads), src.kvHeads)
		}
		rows := len(heads[0])
		for g, pos := range heads {
			if len(pos) != rows {
				return nil, fmt.Errorf("compressed cache: layer %d: KV head %d keeps %d positions, KV head 0 keeps %d", l, g, len(pos), rows)
			}
			for i, p := range pos {
				if p < 0 || p >= n || (i > 0 && p <= pos[i-1]) {
					return nil, fmt.Errorf("compressed cache: layer %d KV head %d: position %d at %d: want ascending, distinct positions in 0..%d", l, g, p, i, n-1)
				}
			}
		}
		dst := c.caches[l]
		for g, pos := range heads {
			if src.dtype == CacheBF16 {
				dst.keys16[g] = gather(dst.keys16[g][:0], src.keys16[g], pos, src.headDim)
				dst.values16[g] = gather(dst.values16[g][:0], src.values16[g], pos, src.headDim)
			} else {
				dst.keys[g] = gather(dst.keys[g][:0], src.keys[g], pos, src.headDim)
				dst.values[g] = gather(dst.values[g][:0], src.values[g], pos, src.headDim)
			}
		}
		dst.n = rows
		c.evicted[l] = n - rows
	}
	copy(c.last, s.last)
	c.hasLast = true
	c.logitsFresh = s.logitsFresh
	if s.logitsFresh {
		copy(c.logits, s.logits)
	}
	return c, nil
}

// gather appends rows pos of src ([rows, d]) to dst.
func gather[T float32 | uint16](dst, src []T, pos []int, d int) []T {
	dst = prefault.Grow(dst, len(pos)*d)
	for _, p := range pos {
		dst = append(dst, src[p*d:(p+1)*d]...)
	}
	return dst
}

// Kept returns how many rows layer l's cache holds (Len for a full cache).
func (s *Session) Kept(l int) int { return s.caches[l].Len() }
