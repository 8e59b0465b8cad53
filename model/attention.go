package model

import (
	"math"

	"github.com/compresskv/compresskv/internal/prefault"
	"github.com/compresskv/compresskv/model/kernels"
)

// Blocking of the prefill attention. A work item is one KV head and a block
// of query tokens: its rows are the block's tokens times the group's query
// heads, [tokens·group, headDim], so the group shares every key and value
// tile it reads. Keys are visited in tiles of attnKeyTile keys (f32
// compute; attnKeyTileBF16 under bf16 compute) aligned to absolute
// positions; each tile of each KV head is packed for the GEMM micro-kernel
// once per chunk and shared by every item of that head.
//
// The constants fix the order of every floating-point operation; the thread
// count never changes them, so results are bit-identical across --threads.
const (
	attnKeyTile = 128 // keys per tile: S [rows, 128] stays in L1/L2
	attnRows    = 128 // rows per work item when the chunk has few items per worker

	// attnRowsWide is the rows per work item while a chunk still gives
	// every worker attnItemsPerWorker items of that size: each key and
	// value tile, read from L3 once per item, then serves twice the
	// queries (one TinyLlama-shaped layer's prefill attention, 2 threads:
	// 2-6 % faster at 4-16K tokens; 512 rows were no faster). Which rows
	// share an item changes no bit of the output (both computes).
	attnRowsWide       = 256
	attnItemsPerWorker = 4

	// attnKeyTileBF16 is bf16 compute's key tile: twice as many keys per
	// tile halves the per-tile work around the two products (the
	// softmax call, the rescaling, the micro-kernel calls' setup),
	// measured 5-8 % faster attention at 4-16K tokens (S [rows, 256] is
	// 128 KB of float32 for 128 rows).
	attnKeyTileBF16 = 256

	// attnMinWork is the smallest attention (query rows x keys x headDim)
	// worth waking helper goroutines for.
	attnMinWork = 1 << 16
)

// attention holds the shape of a model's attention and per-worker scratch.
// Query head h reads KV head h / group (transformers' repeat_kv order), so
// the group's query heads of one token are contiguous in q.
type attention struct {
	heads, kvHeads, headDim int
	group                   int     // heads / kvHeads
	window                  int     // sliding window in tokens; 0 = full causal
	scale                   float32 // 1 / sqrt(headDim)
	bf16                    bool    // ComputeBF16: S and P·V as bf16 dot products
	keyTile                 int     // keys per prefill tile: attnKeyTile, or attnKeyTileBF16 under bf16
	blockTokens             int     // query tokens per prefill work item when > 0 (tests); else itemBlock's choice
	workers                 []*attnScratch
	tiles                   []keyTile // [kvHeads][tiles] of the current prefill chunk
	sub                     subsetScratch
}

// keyTile is one KV head's keys and values at positions [k0, k0+n), packed
// for kernels.MulPacked: keys as Kᵀ [headDim, n], values as V [n, headDim];
// under ComputeBF16 for kernels.MulPackedBF16 instead: keys16 as the
// weights of Q·Kᵀ, values16 as those of P·V, rounded to bf16.
type keyTile struct {
	keys, values     kernels.Packed
	keys16, values16 kernels.PackedBF16
	finite           bool // every value is finite (else P·V skips masked ones)
}

// attnScratch is one worker's buffers. Prefill uses O(rows x key tile +
// rows x headDim) for an item's rows (at most attnRowsWide); decode holds
// one KV head's score rows, [group, cache positions].
type attnScratch struct {
	q      []float32 // [rows, headDim] the item's queries
	qb, pb []uint16  // ComputeBF16: the queries and one tile's P rounded to bf16, rows padded to whole pairs
	s      []float32 // [rows, keys] scores, then probabilities
	pv     []float32 // [rows, headDim] P·V of one tile (non-finite values only)
	acc    []float32 // [rows, headDim] running output, scaled by running sum
	rowMax []float32 // [rows] running max of the raw scores
	rowSum []float64 // [rows] running Σ e^((s - max)·scale)
	alpha  []float32 // [rows] rescale factor of the current tile
	sums   []float32 // [rows] ComputeBF16: the current tile's row sums
	tail   []float32 // ComputeBF16, non-finite values: a row cut at its tile's end, padded to 16 floats
}

// subsetScratch holds AttendSubset's buffers between calls.
type subsetScratch struct {
	scores []float32 // [kept positions]
}

// newAttention returns cfg's attention computing prefill under compute
// (decode and AttendSubset are float32 in both modes).
func newAttention(cfg *Config, compute ComputeDType) *attention {
	a := &attention{
		heads: cfg.NumHeads, kvHeads: cfg.NumKVHeads, headDim: cfg.HeadDim,
		group: cfg.KVGroup(), window: cfg.SlidingWindow,
		scale: float32(1 / math.Sqrt(float64(cfg.HeadDim))),
		bf16:  compute == ComputeBF16, keyTile: attnKeyTile,
	}
	if a.bf16 {
		a.keyTile = attnKeyTileBF16
	}
	return a
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
// A single query (decode) takes one softmax over its whole visible cache;
// longer chunks take the blocked online-softmax path (prefill). The last
// row of a chunk whose probabilities are wanted takes the decode path.
func (a *attention) run(out, q []float32, n, p0 int, cache *LayerCache, probs [][]float32) {
	blocked := n
	if n == 1 || probs != nil {
		blocked = n - 1
	}
	if blocked > 0 {
		a.prefill(out, q, blocked, p0, cache)
	}
	if blocked < n {
		qd := a.heads * a.headDim
		a.decode(out[blocked*qd:n*qd], q[blocked*qd:n*qd], p0+blocked, cache, probs)
	}
}

// prefill is flash-style attention for the n queries at positions
// p0 .. p0+n-1. First every key tile the chunk sees is packed, per KV head;
// then the work items (KV head, block of query tokens) each walk their key
// tiles in order keeping a running max, a running sum and a rescaled output
// accumulator per row, so no [tokens, tokens] matrix is built. S = Q·Kᵀ and
// O += P·V are kernels.MulPacked calls on the calling goroutine; under
// ComputeBF16 kernels.MulPackedBF16 calls on bf16-rounded queries, keys,
// probabilities and values with float32 sums (a GPU's bf16 flash
// attention: the softmax statistics stay float32, P is rounded only for
// the P·V product).
func (a *attention) prefill(out, q []float32, n, p0 int, cache *LayerCache) {
	workers := kernels.Threads()
	if n*a.heads*(p0+n)*a.headDim < attnMinWork {
		workers = 1
	}
	block := a.itemBlock(n, workers) // query tokens per item
	blocks := (n + block - 1) / block
	items := a.kvHeads * blocks
	lo, _ := a.visible(p0)
	size := a.keyTile
	first, hi := lo/size, p0+n
	tiles := (hi+size-1)/size - first
	for len(a.tiles) < a.kvHeads*tiles {
		a.tiles = append(a.tiles, keyTile{})
	}
	a.parallel(workers, a.kvHeads*tiles, func(_ *attnScratch, it int) {
		g, t := it/tiles, it%tiles
		k0 := (first + t) * size
		k1 := min(k0+size, hi)
		kt := &a.tiles[it]
		keys := cache.matrix(cache.keys, cache.keys16, g, k0, k1)
		values := cache.matrix(cache.values, cache.values16, g, k0, k1)
		if a.bf16 {
			kernels.PackBF16(&kt.keys16, keys)
			kernels.PackBF16N(&kt.values16, values)
		} else {
			kernels.PackT(&kt.keys, keys)
			kernels.PackN(&kt.values, values)
		}
		kt.finite = allFinite(values)
	})
	a.parallel(workers, items, func(sc *attnScratch, it int) {
		// The last blocks see the most keys: start them first.
		b, g := blocks-1-it/a.kvHeads, it%a.kvHeads
		t0, t1 := b*block, min((b+1)*block, n)
		a.prefillItem(sc, out, q, g, t0, t1, p0, cache, a.tiles[g*tiles:(g+1)*tiles], first)
	})
}

// decodeBlockFloats is the size, in floats, of the blocks of keys (and of
// values) decode attention runs a KV group's query heads over in turn:
// 64 KB, which stays in L2 while the group's other heads read it.
const decodeBlockFloats = 1 << 14

// attnBlock is the number of query tokens of attnRows rows when group
// query heads share a KV head: prefill's work items on a chunk with few
// items per worker, and the granularity of LastLayerRows.
func attnBlock(group int) int { return max(1, attnRows/group) }

// itemBlock is the number of query tokens of one prefill work item of an
// n-row chunk run by workers goroutines: attnRowsWide rows while the
// chunk still gives each worker attnItemsPerWorker items, else attnBlock
// (a.blockTokens instead, when a test set it). A row's output does not
// depend on the rows it shares an item with (TestAttentionBlockBits): each
// tile's scores and products are per row, and the bf16 step over a tile no
// row of the item masks gives a row the bits the row-by-row step does.
func (a *attention) itemBlock(n, workers int) int {
	if a.blockTokens > 0 {
		return a.blockTokens
	}
	wide := max(1, attnRowsWide/a.group)
	if a.kvHeads*((n+wide-1)/wide) >= attnItemsPerWorker*workers {
		return wide
	}
	return attnBlock(a.group)
}

// prefillItem computes the output of query heads g*group .. (g+1)*group-1
// for the chunk's tokens [t0, t1). tiles are KV head g's packed tiles,
// tiles[0] starting at key position first*a.keyTile.
func (a *attention) prefillItem(sc *attnScratch, out, q []float32, g, t0, t1, p0 int, cache *LayerCache, tiles []keyTile, first int) {
	d, r, qd := a.headDim, a.group, a.heads*a.headDim
	rows := (t1 - t0) * r
	sc.grow(rows, a.keyTile, d, a.bf16)
	// Row (t, j) is token t0+t, query head g*r+j.
	ldq := d + d%2 // bf16 query rows, padded to whole pairs
	for t := t0; t < t1; t++ {
		src := q[t*qd+g*r*d : t*qd+(g+1)*r*d]
		if a.bf16 {
			roundRows(sc.qb[(t-t0)*r*ldq:], ldq, src, d, r)
		} else {
			copy(sc.q[(t-t0)*r*d:(t-t0+1)*r*d], src)
		}
	}
	acc, rowMax, rowSum := sc.acc[:rows*d], sc.rowMax[:rows], sc.rowSum[:rows]
	clear(acc)
	clear(rowSum)
	for i := range rowMax {
		rowMax[i] = float32(math.Inf(-1))
	}
	lo, _ := a.visible(p0 + t0)
	lastLo, _ := a.visible(p0 + t1 - 1) // keys from lastLo on are in every row's window
	hi := p0 + t1
	for ti := lo/a.keyTile - first; ti < len(tiles); ti++ {
		k0 := (first + ti) * a.keyTile
		if k0 >= hi {
			break
		}
		kt := &tiles[ti]
		k1 := min(k0+kt.keys.N, hi)
		if a.bf16 {
			k1 = min(k0+kt.keys16.N, hi)
		}
		tile := k1 - k0
		s := sc.s[:rows*tile] // [rows, tile]
		if a.bf16 {
			kernels.MulPackedBF16(s, tile, sc.qb, ldq, rows, kt.keys16.View(d, tile), false)
		} else {
			kernels.MulPacked(s, tile, sc.q, d, rows, kt.keys.View(d, tile), false)
		}
		// Online softmax: new running maxima, exponentials, row sums and
		// the factors that rescale what each row accumulated so far. bf16
		// compute on finite values writes P's bf16 words for P·V directly
		// (pb [rows, ldp]) with the cheaper exponential of
		// kernels.ExpShiftSumBF16; a tile that no row masks any key of
		// (the common case on a long prompt) takes one call for all rows.
		fused := a.bf16 && kt.finite
		ldp := tile + tile%2
		if fused && tile%16 == 0 && k1 <= p0+t0+1 && lastLo <= k0 {
			kernels.SoftmaxTileBF16(sc.pb, ldp, s, tile, rows, a.scale, rowMax, sc.alpha, sc.sums)
			for i, alpha := range sc.alpha[:rows] {
				rowSum[i] = rowSum[i]*float64(alpha) + float64(sc.sums[i])
			}
		} else {
			a.softmaxRows(sc, s, tile, rows, p0+t0, k0, fused)
		}
		// O = O·alpha + P·V: the micro-kernel adds the tile's sum to O.
		for i := 0; i < rows; i++ {
			if alpha := sc.alpha[i]; alpha != 1 {
				kernels.Scale(alpha, acc[i*d:(i+1)*d])
			}
		}
		if fused {
			kernels.MulPackedBF16(acc, d, sc.pb, ldp, rows, kt.values16.View(tile, d), true)
			continue
		}
		if kt.finite {
			kernels.MulPacked(acc, d, s, tile, rows, kt.values.View(tile, d), true)
			continue
		}
		maskedWeightedSum(sc.pv[:rows*d], s, rows, cache.matrix(cache.values, cache.values16, g, k0, k1))
		kernels.Add(acc, sc.pv[:rows*d])
	}
	for t := t0; t < t1; t++ {
		for j := 0; j < r; j++ {
			i := (t-t0)*r + j
			o := out[t*qd+(g*r+j)*d : t*qd+(g*r+j+1)*d]
			copy(o, acc[i*d:(i+1)*d])
			kernels.Scale(float32(1/rowSum[i]), o)
		}
	}
}

// softmaxRows is prefillItem's online softmax step, row by row, for a
// tile s [rows, tile] of scores of keys k0 .. k0+tile-1 whose rows may
// mask keys (row i is the query at position pos0 + i/group): masked
// scores weigh 0, a row that sees no key of the tile keeps its state
// (alpha 1). fused writes P's bf16 words into sc.pb (rows tile+tile%2
// words apart) instead of the float32 probabilities into s.
func (a *attention) softmaxRows(sc *attnScratch, s []float32, tile, rows, pos0, k0 int, fused bool) {
	ldp := tile + tile%2
	rowMax, rowSum := sc.rowMax[:rows], sc.rowSum[:rows]
	for i := 0; i < rows; i++ {
		row := s[i*tile : (i+1)*tile]
		rlo, rhi := a.visible(pos0 + i/a.group)
		from, to := max(rlo, k0)-k0, min(rhi, k0+tile)-k0
		if from >= to {
			clear(row)
			if fused {
				clear(sc.pb[i*ldp : (i+1)*ldp])
			}
			sc.alpha[i] = 1
			continue
		}
		end, padded := to, to // row[from:end] is exponentiated
		if a.bf16 {
			// Masked scores past to, as -Inf (e^-Inf = 0), fill the
			// range to whole 16-float vectors: the vector exp then
			// covers the row's diagonal tiles with no scalar tail.
			// (f32 compute keeps its own order of the row sum.)
			padded = from + (to-from+15)&^15
			end = min(padded, tile)
			for j := to; j < end; j++ {
				row[j] = float32(math.Inf(-1))
			}
		}
		m := max(rowMax[i], kernels.MaxFloat32(row[from:to]))
		var sum float64
		switch {
		case fused: // ExpShiftSumBF16 pads a cut row itself
			pb := sc.pb[i*ldp : (i+1)*ldp]
			clear(pb[:from])
			clear(pb[end:])
			sum = float64(kernels.ExpShiftSumBF16(pb[from:end], row[from:end], m, a.scale))
		case padded > end:
			// The tile ends before the padding does (it is cut at the
			// item's last query, or a window starts the row off a
			// 16-key boundary): the whole padded row goes through
			// ExpShiftSum, so the sum does not depend on where the
			// item's tile ends.
			sc.tail = append(sc.tail[:0], row[from:end]...)
			for range padded - end {
				sc.tail = append(sc.tail, float32(math.Inf(-1)))
			}
			sum = float64(kernels.ExpShiftSum(sc.tail, m, a.scale))
			copy(row[from:end], sc.tail)
			clear(row[:from])
		default:
			clear(row[:from])
			clear(row[end:])
			sum = float64(kernels.ExpShiftSum(row[from:end], m, a.scale))
		}
		alpha := kernels.Exp((rowMax[i] - m) * a.scale) // 0 on the first tile
		if fused {
			// The tile kernel's factor: a row gets the same bits whether
			// its tile took this step or SoftmaxTileBF16 (which one
			// depends on the other rows of the item).
			alpha = kernels.RescaleBF16(rowMax[i], m, a.scale)
		}
		rowSum[i] = rowSum[i]*float64(alpha) + sum
		rowMax[i], sc.alpha[i] = m, alpha
	}
}

// roundRows writes the rows of x [rows, n] rounded to bf16 into dst, ld
// words apart (ld is n or n+1: a word past n pads the last pair with 0).
func roundRows(dst []uint16, ld int, x []float32, n, rows int) {
	if ld == n {
		kernels.RoundBF16(dst[:rows*n], x[:rows*n])
		return
	}
	for i := 0; i < rows; i++ {
		kernels.RoundBF16(dst[i*ld:], x[i*n:(i+1)*n])
		dst[i*ld+n] = 0
	}
}

// allFinite reports whether every value of the cache matrix v is finite.
func allFinite(v kernels.Matrix) bool {
	if v.DType == kernels.BF16 {
		var bad uint16 // bit 15 set once an exponent is all ones (Inf, NaN)
		for _, x := range v.U16 {
			bad |= x&0x7f80 + 0x80
		}
		return bad&0x8000 == 0
	}
	var zero float32 // x - x is 0, or NaN for Inf and NaN
	for _, x := range v.F32 {
		zero += x - x
	}
	return zero == 0
}

// maskedWeightedSum writes pv [rows, headDim] = P·V skipping the zero
// (masked) probabilities, so a non-finite value at a masked position does
// not reach the rows that cannot see it (0·NaN would be NaN). p is [rows,
// values.Rows].
func maskedWeightedSum(pv, p []float32, rows int, values kernels.Matrix) {
	d, tile := values.Cols, values.Rows
	clear(pv[:rows*d])
	for i := 0; i < rows; i++ {
		for j, pj := range p[i*tile : (i+1)*tile] {
			if pj != 0 {
				axpyRow(pj, values, j, pv[i*d:(i+1)*d])
			}
		}
	}
}

// decode computes the attention of one query q [heads*headDim] at position
// pos into out [heads*headDim]. Per KV head: the group's scores over the
// whole visible cache, each row an exact softmax (copied into probs when
// asked), then P·V as a sweep over the value rows, each read once for the
// whole group. KV heads are shared among up to kernels.Threads() goroutines.
func (a *attention) decode(out, q []float32, pos int, cache *LayerCache, probs [][]float32) {
	d, r := a.headDim, a.group
	lo, hi := a.visible(pos)
	keys := hi - lo
	workers := kernels.Threads()
	if a.heads*keys*d < attnMinWork {
		workers = 1
	}
	a.parallel(workers, a.kvHeads, func(sc *attnScratch, g int) {
		sc.s = growF32(sc.s, r*keys)
		s := sc.s[:r*keys] // [group, keys]
		// MatMul's GEMV path for each query (it streams the keys without
		// packing them), four queries per read of a key row
		// (kernels.GEMVHeads), over blocks of keys small enough to stay
		// in cache for the group's other queries: the group reads its
		// keys from memory once, not once per query head. A score is one
		// row's dot product, so neither changes a bit.
		block := max(1, decodeBlockFloats/d)
		for b0 := 0; b0 < keys; b0 += block {
			b1 := min(b0+block, keys)
			keyRows := cache.matrix(cache.keys, cache.keys16, g, lo+b0, lo+b1)
			kernels.GEMVHeads(s[b0:], keys, q[g*r*d:(g+1)*r*d], r, keyRows)
		}
		for j := 0; j < r; j++ {
			row := s[j*keys : (j+1)*keys]
			kernels.Softmax(row, a.scale)
			if probs != nil {
				p := probs[g*r+j][:hi]
				clear(p[:lo])
				copy(p[lo:], row)
			}
		}
		o := out[g*r*d : (g+1)*r*d] // [group, headDim]
		clear(o)
		values := cache.matrix(cache.values, cache.values16, g, lo, hi)
		// Skipping underflowed weights keeps a non-finite value from
		// reaching a row that gives it no weight. Each output element
		// sums its keys in order, one multiply-add per key, so the
		// group's heads over all keys (kernels.AxpyRowsN, the sums held
		// in registers, four heads per read of a value row) give the
		// bits of key by key.
		if values.DType == kernels.F32 {
			// In the same blocks of keys as the scores, for the same
			// reason; each element still sums its keys in order.
			for b0 := 0; b0 < keys; b0 += block {
				b1 := min(b0+block, keys)
				kernels.AxpyRowsN(o, d, r, s[b0:], keys, b1-b0, values.F32[b0*d:], d)
			}
			return
		}
		for b0 := 0; b0 < keys; b0 += block {
			b1 := min(b0+block, keys)
			kernels.AxpyRowsNBF16(o, d, r, s[b0:], keys, b1-b0, values.U16[b0*d:], d)
		}
	})
}

// axpyRow computes y += alpha · m[row] for a cache matrix m (F32 or BF16).
func axpyRow(alpha float32, m kernels.Matrix, row int, y []float32) {
	d := m.Cols
	if m.DType == kernels.BF16 {
		kernels.AxpyBF16(alpha, m.U16[row*d:(row+1)*d], y)
		return
	}
	kernels.Axpy(alpha, m.F32[row*d:(row+1)*d], y)
}

// dotRow returns x · m[row] for a cache matrix m (F32 or BF16).
func dotRow(x []float32, m kernels.Matrix, row int) float32 {
	d := m.Cols
	if m.DType == kernels.BF16 {
		return kernels.DotBF16(x[:d], m.U16[row*d:(row+1)*d])
	}
	return kernels.Dot(x[:d], m.F32[row*d:(row+1)*d])
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
	if cap(a.sub.scores) < len(keep) {
		a.sub.scores = make([]float32, len(keep))
	}
	scores := a.sub.scores[:len(keep)]
	for h := 0; h < a.heads; h++ {
		g := h / a.group
		keys, values := cache.Keys(g), cache.Values(g)
		qh, oh := q[h*d:(h+1)*d], out[h*d:(h+1)*d]
		for j, p := range keep {
			scores[j] = dotRow(qh, keys, p)
		}
		kernels.Softmax(scores, a.scale)
		clear(oh)
		for j, p := range keep {
			axpyRow(scores[j], values, p, oh)
		}
	}
}

// parallel runs do(scratch, item) for every item in [0, items) on up to
// workers goroutines of the kernels' pool, each with its own scratch. Each
// item is computed by one goroutine alone, so which goroutine takes it never
// changes its bits.
func (a *attention) parallel(workers, items int, do func(sc *attnScratch, item int)) {
	workers = max(1, min(workers, items, kernels.Threads()))
	for len(a.workers) < workers {
		a.workers = append(a.workers, new(attnScratch))
	}
	kernels.ParallelFor(items, workers, func(worker, item int) { do(a.workers[worker], item) })
}

// grow makes the scratch hold rows query rows against tiles of keys keys
// (and their bf16 copies under bf16 compute).
func (sc *attnScratch) grow(rows, keys, d int, bf16 bool) {
	sc.q = growF32(sc.q, rows*d)
	if bf16 && len(sc.qb) < rows*(d+1) {
		sc.qb = make([]uint16, rows*(d+1))
	}
	if bf16 && len(sc.pb) < rows*(keys+1) {
		sc.pb = make([]uint16, rows*(keys+1))
	}
	sc.s = growF32(sc.s, rows*keys)
	sc.pv = growF32(sc.pv, rows*d)
	sc.acc = growF32(sc.acc, rows*d)
	sc.rowMax = growF32(sc.rowMax, rows)
	sc.alpha = growF32(sc.alpha, rows)
	sc.sums = growF32(sc.sums, rows)
	if len(sc.rowSum) < rows {
		sc.rowSum = make([]float64, rows)
	}
}

// growF32 returns buf if it holds n floats, else a new slice of at least
// n, doubling so a decode that grows by one position rarely reallocates.
func growF32(buf []float32, n int) []float32 {
	if len(buf) >= n {
		return buf
	}
	return prefault.Make[float32](max(n, 2*len(buf)), 0)
}
