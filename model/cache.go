package model

import (
	"fmt"
	"strings"

	"github.com/compresskv/compresskv/internal/prefault"
	"github.com/compresskv/compresskv/model/kernels"
)

// CacheDType is how a KV cache stores keys and values. The zero value is
// CacheF32.
type CacheDType uint8

const (
	// CacheF32 stores float32: the reference's numbers.
	CacheF32 CacheDType = iota
	// CacheBF16 stores bfloat16 (round to nearest even): half the memory of
	// long prompts, scores that differ slightly from float32's.
	CacheBF16
)

// ParseCacheDType reads "f32" or "bf16" (any case). float16 is refused: its
// range (65504) overflows on the keys and values of real models.
func ParseCacheDType(s string) (CacheDType, error) {
	switch strings.ToLower(s) {
	case "f32", "float32":
		return CacheF32, nil
	case "bf16", "bfloat16":
		return CacheBF16, nil
	case "f16", "fp16", "float16":
		return 0, fmt.Errorf("KV cache dtype %q is not supported (float16 overflows on real models' keys and values); want f32 or bf16", s)
	}
	return 0, fmt.Errorf("KV cache dtype %q: want f32 or bf16", s)
}

// String returns "f32" or "bf16", the names ParseCacheDType reads and
// profiles record.
func (d CacheDType) String() string {
	switch d {
	case CacheF32:
		return "f32"
	case CacheBF16:
		return "bf16"
	}
	return fmt.Sprintf("CacheDType(%d)", uint8(d))
}

// Bytes returns the bytes one key or value element takes in the cache.
func (d CacheDType) Bytes() int {
	if d == CacheBF16 {
		return 2
	}
	return 4
}

// kernel is the matrix dtype of a cache of type d.
func (d CacheDType) kernel() kernels.DType {
	if d == CacheBF16 {
		return kernels.BF16
	}
	return kernels.F32
}

// check reports a CacheDType that is neither f32 nor bf16.
func (d CacheDType) check() error {
	if d != CacheF32 && d != CacheBF16 {
		return fmt.Errorf("KV cache dtype %v: want f32 or bf16", d)
	}
	return nil
}

// LayerCache is the KV cache of one layer: for every KV head, the post-RoPE
// keys and the values of every position fed so far, stored as float32 or
// bfloat16 (SessionOptions.CacheDType). Each head's keys and values are
// contiguous [Len, headDim] matrices (Keys, Values) in position order, so
// attention reads them as kernels.Matrix and a selection policy reads one
// KV head's keys without a copy. Row i is position i in a full cache; in a
// compressed one (Session.Compressed) row i is the i-th kept position of
// that KV head.
//
// Observers may read a LayerCache during a callback; they must not keep it
// past the callback's return, and never write to it.
type LayerCache struct {
	kvHeads, headDim int
	dtype            CacheDType
	n                int         // positions held
	keys, values     [][]float32 // [kvHeads][n*headDim] when dtype == F32
	keys16, values16 [][]uint16  // [kvHeads][n*headDim] bf16 bits when dtype == BF16
}

func newLayerCache(kvHeads, headDim int, dtype CacheDType) *LayerCache {
	c := &LayerCache{kvHeads: kvHeads, headDim: headDim, dtype: dtype}
	if dtype == CacheBF16 {
		c.keys16, c.values16 = make([][]uint16, kvHeads), make([][]uint16, kvHeads)
	} else {
		c.keys, c.values = make([][]float32, kvHeads), make([][]float32, kvHeads)
	}
	return c
}

// Len returns the number of cached positions (0 .. Len-1).
func (c *LayerCache) Len() int { return c.n }

// KVHeads returns the number of key/value heads G.
func (c *LayerCache) KVHeads() int { return c.kvHeads }

// HeadDim returns the head dimension d.
func (c *LayerCache) HeadDim() int { return c.headDim }

// DType returns the storage type of the cache.
func (c *LayerCache) DType() CacheDType { return c.dtype }

// Key writes the post-RoPE key of position pos for KV head kvHead into
// dst[:HeadDim], widened to float32.
func (c *LayerCache) Key(pos, kvHead int, dst []float32) {
	c.Keys(kvHead).Row(dst, pos)
}

// Value writes the value of position pos for KV head kvHead into
// dst[:HeadDim], widened to float32.
func (c *LayerCache) Value(pos, kvHead int, dst []float32) {
	c.Values(kvHead).Row(dst, pos)
}

// Keys returns the keys of one KV head as a read-only matrix [Len, HeadDim]
// viewing the cache, so q·Kᵀ over all positions is one kernels.MatMul.
func (c *LayerCache) Keys(kvHead int) kernels.Matrix {
	return c.matrix(c.keys, c.keys16, kvHead, 0, c.n)
}

// Values returns the values of one KV head as a read-only matrix
// [Len, HeadDim] viewing the cache.
func (c *LayerCache) Values(kvHead int) kernels.Matrix {
	return c.matrix(c.values, c.values16, kvHead, 0, c.n)
}

// matrix views positions [lo, hi) of one head's keys or values.
func (c *LayerCache) matrix(f [][]float32, u [][]uint16, kvHead, lo, hi int) kernels.Matrix {
	m := kernels.Matrix{Rows: hi - lo, Cols: c.headDim, DType: c.dtype.kernel()}
	a, b := lo*c.headDim, hi*c.headDim
	if c.dtype == CacheBF16 {
		m.U16 = u[kvHead][a:b:b]
	} else {
		m.F32 = f[kvHead][a:b:b]
	}
	return m
}

// append adds n positions: k and v are [n, kvHeads*headDim] (post-RoPE keys
// and values in projection order).
func (c *LayerCache) append(k, v []float32, n int) {
	d, g := c.headDim, c.kvHeads
	for t := 0; t < n; t++ {
		for h := 0; h < g; h++ {
			kr := k[(t*g+h)*d : (t*g+h+1)*d]
			vr := v[(t*g+h)*d : (t*g+h+1)*d]
			if c.dtype == CacheBF16 {
				c.keys16[h] = appendBF16(c.keys16[h], kr)
				c.values16[h] = appendBF16(c.values16[h], vr)
			} else {
				c.keys[h] = append(c.keys[h], kr...)
				c.values[h] = append(c.values[h], vr...)
			}
		}
	}
	c.n += n
}

// cacheHeadroom is the number of positions reserve adds past what a call
// needs: room for a profile probe's decode steps (50 by default) without
// one more copy of the whole cache.
const cacheHeadroom = 64

// reserve makes room for rows more positions in every head, plus
// cacheHeadroom. A long prompt prefilled in chunks then copies each key and
// value once, instead of again at every doubling of the slices (the KV
// append memmove was 3.4 % of a prefill in a CPU profile).
func (c *LayerCache) reserve(rows int) {
	m := (c.n + rows) * c.headDim
	if c.dtype == CacheBF16 {
		if len(c.keys16) > 0 && cap(c.keys16[0]) >= m {
			return
		}
		m += cacheHeadroom * c.headDim
		for h := range c.kvHeads {
			c.keys16[h] = prefault.Grow(c.keys16[h], m-len(c.keys16[h]))
			c.values16[h] = prefault.Grow(c.values16[h], m-len(c.values16[h]))
		}
		return
	}
	if len(c.keys) > 0 && cap(c.keys[0]) >= m {
		return
	}
	m += cacheHeadroom * c.headDim
	for h := range c.kvHeads {
		c.keys[h] = prefault.Grow(c.keys[h], m-len(c.keys[h]))
		c.values[h] = prefault.Grow(c.values[h], m-len(c.values[h]))
	}
}

func appendBF16(dst []uint16, src []float32) []uint16 {
	for _, x := range src {
		dst = append(dst, kernels.Float32ToBF16(x))
	}
	return dst
}

// truncate drops every position from n on, keeping the memory for reuse.
func (c *LayerCache) truncate(n int) {
	if n >= c.n {
		return
	}
	m := n * c.headDim
	for h := 0; h < c.kvHeads; h++ {
		if c.dtype == CacheBF16 {
			c.keys16[h], c.values16[h] = c.keys16[h][:m], c.values16[h][:m]
		} else {
			c.keys[h], c.values[h] = c.keys[h][:m], c.values[h][:m]
		}
	}
	c.n = n
}
