package model

import (
	"math"
	"sync"

	"github.com/compresskv/compresskv/model/kernels"
)

// attention holds the shape of a model's attention and per-worker scratch.
// Query head h reads KV head h / group (transformers' repeat_kv order).
type attention struct {
	heads, kvHeads, headDim int
	group                   int     // heads / kvHeads
	window                  int     // sliding window in tokens; 0 = full causal
	scale                   float32 // 1 / sqrt(headDim)
	workers                 []attnScratch
}

// attnScratch is one worker's buffers: a score row over the cache and a
// widened value row. Never larger than O(cache) per worker.
type attnScratch struct {
	scores []float32 // [cache positions]
	row    []float32 // [headDim]
}

func newAttention(cfg *Config) *attention {
	return &attention{
		heads: cfg.NumHeads, kvHeads: cfg.NumKVHeads, headDim: cfg.HeadDim,
		group: cfg.KVGroup(), window: cfg.SlidingWindow,
		scale: float32(1 / math.Sqrt(float64(cfg.HeadDim))),
	}
}

// visible returns the key positions [lo, hi) that the query at position pos
// attends to: causal, and with a sliding window key j is visible iff
// pos - j < window (as transformers' Mistral mask).
func (a *attention) visible(pos int) (lo, hi int) {
	lo, hi = 0, pos+1
	if a.window > 0 && pos+1 > a.window {
		lo = pos + 1 - a.window
	}
	return lo, hi
}

// run computes causal grouped-query attention for the n query rows of a
// chunk at positions p0 .. p0+n-1 against cache, which already holds them.
// q and out are [n, heads*headDim]. probs, when not nil, receives for each
// head the post-softmax row over positions 0 .. p0+n-1 of the last query
// ([heads][p0+n]; positions outside a sliding window get 0).
//
// Each (row, head) is one softmax over a score row of at most the cache
// length: no [tokens, tokens] matrix is ever built. Rows are shared among
// up to kernels.Threads() goroutines.
func (a *attention) run(out, q []float32, n, p0 int, cache *LayerCache, probs [][]float32) {
	items := n * a.heads
	workers := kernels.Threads()
	// Below this much work, goroutines cost more than they save.
	if work := items * (p0 + n) * a.headDim; work < 1<<16 {
		workers = 1
	}
	workers = min(workers, items)
	for len(a.workers) < workers {
		a.workers = append(a.workers, attnScratch{})
	}
	do := func(w, from, to int) {
		sc := &a.workers[w]
		if cap(sc.scores) < p0+n {
			sc.scores = make([]float32, p0+n, 2*(p0+n))
		}
		if len(sc.row) < a.headDim {
			sc.row = make([]float32, a.headDim)
		}
		for it := from; it < to; it++ {
			t, h := it/a.heads, it%a.heads
			pos := p0 + t
			lo, hi := a.visible(pos)
			g := h / a.group
			off := (t*a.heads + h) * a.headDim
			scores := sc.scores[:hi-lo]
			a.row(out[off:off+a.headDim], q[off:off+a.headDim],
				cache.matrix(cache.keys, cache.keys16, g, lo, hi),
				cache.matrix(cache.values, cache.values16, g, lo, hi), scores, sc.row)
			if probs != nil && t == n-1 {
				p := probs[h][:pos+1]
				clear(p[:lo])
				copy(p[lo:], scores)
			}
		}
	}
	if workers == 1 {
		do(0, 0, items)
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		from, to := w*items/workers, (w+1)*items/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			do(w, from, to)
		}()
	}
	wg.Wait()
}

// row computes one query head's attention output
// out = softmax(q·keysᵀ · scale) · values, with keys and values
// [len(scores), headDim]. On return scores holds the softmax probabilities.
// tmp is a [headDim] buffer for widening bf16 value rows.
func (a *attention) row(out, q []float32, keys, values kernels.Matrix, scores, tmp []float32) {
	kernels.MatMul(scores, q, 1, keys)
	softmax(scores, a.scale)
	weightedSum(out, scores, values, tmp)
}

// softmax replaces x with softmax(x * scale), subtracting the maximum first.
func softmax(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	maxv := float32(math.Inf(-1))
	for _, v := range x {
		maxv = max(maxv, v)
	}
	var sum float64
	for i, v := range x {
		e := math.Exp(float64((v - maxv) * scale))
		x[i] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// weightedSum writes out[:headDim] = Σ_j p[j] · values[j]. tmp is a
// [headDim] buffer for widening bf16 rows.
func weightedSum(out, p []float32, values kernels.Matrix, tmp []float32) {
	d := values.Cols
	clear(out[:d])
	for j, pj := range p {
		if pj == 0 {
			continue
		}
		if values.DType == kernels.F32 {
			kernels.Axpy(pj, values.F32[j*d:(j+1)*d], out)
			continue
		}
		values.Row(tmp, j)
		kernels.Axpy(pj, tmp[:d], out)
	}
}

// subset computes, for one decode query q [heads*headDim] at position pos,
// the attention output over only the cache positions in keep (sorted,
// distinct, each <= pos; positions outside a sliding window are ignored)
// into out [heads*headDim]. A head with no visible kept position outputs 0.
func (a *attention) subset(out, q []float32, pos int, cache *LayerCache, keep []int) {
	lo, _ := a.visible(pos)
	first := 0
	for first < len(keep) && keep[first] < lo {
		first++
	}
	keep = keep[first:]
	d := a.headDim
	scores := make([]float32, len(keep))
	key := make([]float32, d)
	val := make([]float32, d)
	for h := 0; h < a.heads; h++ {
		g := h / a.group
		keys, values := cache.Keys(g), cache.Values(g)
		qh, oh := q[h*d:(h+1)*d], out[h*d:(h+1)*d]
		for j, p := range keep {
			keys.Row(key, p)
			scores[j] = kernels.Dot(qh, key)
		}
		softmax(scores, a.scale)
		clear(oh)
		for j, p := range keep {
			values.Row(val, p)
			kernels.Axpy(scores[j], val, oh)
		}
	}
}
