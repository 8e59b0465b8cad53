package selection

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/compresskv/compresskv/model/kernels"
)

// Pooling is how the summed window attention is smoothed along the
// sequence before the top positions are taken.
type Pooling string

// The two poolings of the reference (avg_pool1d / max_pool1d, stride 1,
// padding kernel/2).
const (
	PoolAvg Pooling = "avg"
	PoolMax Pooling = "max"
)

// ParsePooling accepts "avg" or "max" (and the reference's spellings
// "avgpool" / "maxpool").
func ParsePooling(s string) (Pooling, error) {
	switch s {
	case "avg", "avgpool":
		return PoolAvg, nil
	case "max", "maxpool":
		return PoolMax, nil
	}
	return "", fmt.Errorf("pooling %q: want avg or max", s)
}

// Sinks is how many leading positions StreamingLLM keeps (attention sinks).
const Sinks = 4

// DefaultPyramidBeta is the PyramidKV reference's pyram_beta: the smallest
// layer budget is base/beta of the base budget (B - w).
const DefaultPyramidBeta = 20

// Params are the selection constants shared by every policy.
type Params struct {
	Window  int     // w: the last w prompt positions are always kept and their queries vote (8)
	Kernel  int     // pooling kernel, odd (5)
	Pooling Pooling // PoolAvg (reference default) or PoolMax
	// ReferenceGrouping makes SnapKV and PyramidKV average the scores of the
	// query heads h with h mod G == kvHead, as the reference's
	// reshape(r, G).mean does. The default (false) averages the heads that
	// actually read the KV head, h / r == kvHead (Hugging Face repeat_kv order).
	ReferenceGrouping bool
}

// DefaultParams returns the reference constants: window 8, kernel 5, average
// pooling, grouping by h / r.
func DefaultParams() Params {
	return Params{Window: 8, Kernel: 5, Pooling: PoolAvg}
}

// Validate reports constants no policy can work with.
func (p Params) Validate() error {
	if p.Window < 1 {
		return fmt.Errorf("selection: window %d: want at least 1", p.Window)
	}
	if p.Kernel < 1 || p.Kernel%2 == 0 {
		return fmt.Errorf("selection: pooling kernel %d: want an odd number >= 1 (padding kernel/2 keeps the length)", p.Kernel)
	}
	if p.Pooling != PoolAvg && p.Pooling != PoolMax {
		return fmt.Errorf("selection: pooling %q: want avg or max", p.Pooling)
	}
	return nil
}

// Layer is what a policy reads of one layer at the end of prefill.
type Layer struct {
	Tokens  int       // n: prompt positions in the cache
	Heads   int       // H: query heads
	KVHeads int       // G: key/value heads; query head h reads KV head h / (H/G)
	HeadDim int       // d
	Queries []float32 // [window, Heads, HeadDim] post-RoPE queries of positions n-w .. n-1
	// Keys holds the post-RoPE keys of each KV head, [KVHeads] matrices of
	// [Tokens, HeadDim], in the KV cache's own layout and dtype
	// (model.LayerCache.Keys views them without a copy): a policy reads the
	// cache where it lies instead of a float32 copy of every key.
	Keys []kernels.Matrix
}

// KeysOf collects the per-KV-head key matrices of a cache, e.g.
// KeysOf(c.KVHeads(), c.Keys) for a model.LayerCache c.
func KeysOf(kvHeads int, keys func(kvHead int) kernels.Matrix) []kernels.Matrix {
	out := make([]kernels.Matrix, kvHeads)
	for g := range out {
		out[g] = keys(g)
	}
	return out
}

func (l Layer) validate(window int) error {
	switch {
	case l.Heads < 1 || l.KVHeads < 1 || l.HeadDim < 1:
		return fmt.Errorf("selection: layer shape heads=%d kvHeads=%d headDim=%d: want all >= 1", l.Heads, l.KVHeads, l.HeadDim)
	case l.Heads%l.KVHeads != 0:
		return fmt.Errorf("selection: %d query heads do not divide into %d KV heads", l.Heads, l.KVHeads)
	case l.Tokens < window:
		return fmt.Errorf("selection: %d prompt tokens: fewer than the window %d", l.Tokens, window)
	case len(l.Queries) != window*l.Heads*l.HeadDim:
		return fmt.Errorf("selection: %d query values: want [window %d, heads %d, headDim %d] = %d", len(l.Queries), window, l.Heads, l.HeadDim, window*l.Heads*l.HeadDim)
	case len(l.Keys) != l.KVHeads:
		return fmt.Errorf("selection: %d key matrices: want one per KV head (%d)", len(l.Keys), l.KVHeads)
	}
	for g, m := range l.Keys {
		stored := len(m.F32)
		if m.DType != kernels.F32 {
			stored = len(m.U16)
		}
		if m.Rows != l.Tokens || m.Cols != l.HeadDim || stored < m.Rows*m.Cols {
			return fmt.Errorf("selection: keys of KV head %d: %dx%d matrix holding %d values, want [tokens %d, headDim %d]", g, m.Rows, m.Cols, stored, l.Tokens, l.HeadDim)
		}
	}
	return nil
}

// HeadScores returns the importance of every position before the window as
// seen by query head h: the softmax(q·k/sqrt(d)) rows of the last w queries
// over all n keys (query n-w+i sees keys 0 .. n-w+i), summed over the w
// queries, cut to the n-w positions before the window, and pooled. The
// result has n-w entries. Softmax and sums run in float64 (the reference
// runs softmax in float32 and sums in the model dtype).
func HeadScores(l Layer, h int, p Params) ([]float64, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := l.validate(p.Window); err != nil {
		return nil, err
	}
	if h < 0 || h >= l.Heads {
		return nil, fmt.Errorf("selection: query head %d: layer has %d", h, l.Heads)
	}
	summed := make([]float64, l.Tokens-p.Window)
	logits := make([]float64, l.Tokens)
	windowAttention(summed, logits, l, h, p.Window)
	return pool(summed, p.Kernel, p.Pooling), nil
}

// windowAttention adds to summed[j] (j < n-w) the attention query head h's
// window queries pay to position j. logits is scratch of length n.
func windowAttention(summed, logits []float64, l Layer, h, window int) {
	n, d := l.Tokens, l.HeadDim
	kvHead := h / (l.Heads / l.KVHeads)
	scale := 1 / math.Sqrt(float64(d))
	prefix := n - window
	keys := l.Keys[kvHead]
	var widened []float32 // one key row widened to float32 when the cache holds bf16
	if keys.DType != kernels.F32 {
		widened = make([]float32, d)
	}
	for i := 0; i < window; i++ {
		q := l.Queries[(i*l.Heads+h)*d : (i*l.Heads+h+1)*d] // [headDim]
		visible := prefix + i + 1                           // causal: keys 0 .. n-w+i
		peak := math.Inf(-1)
		for j := 0; j < visible; j++ {
			var k []float32 // [headDim]
			if widened == nil {
				k = keys.F32[j*d : (j+1)*d]
			} else {
				keys.Row(widened, j)
				k = widened
			}
			var dot float64
			for t, qv := range q {
				dot += float64(qv) * float64(k[t])
			}
			logits[j] = dot * scale
			peak = max(peak, logits[j])
		}
		var total float64
		for j := 0; j < visible; j++ {
			logits[j] = math.Exp(logits[j] - peak)
			total += logits[j]
		}
		for j := 0; j < prefix; j++ {
			summed[j] += logits[j] / total
		}
	}
}

// pool smooths x with a stride-1 window of kernel positions centred on each
// position, padding kernel/2 on both sides. Average pooling divides by the
// full kernel even at the edges, as PyTorch's avg_pool1d does with its
// default count_include_pad=True (the padding counts as zeros); max pooling
// pads with -inf, so the edges take the maximum of the real positions.
func pool(x []float64, kernel int, how Pooling) []float64 {
	out := make([]float64, len(x))
	half := kernel / 2
	for j := range x {
		lo, hi := max(j-half, 0), min(j+half+1, len(x))
		switch how {
		case PoolMax:
			best := math.Inf(-1)
			for _, v := range x[lo:hi] {
				best = max(best, v)
			}
			out[j] = best
		default:
			var s float64
			for _, v := range x[lo:hi] {
				s += v
			}
			out[j] = s / float64(kernel)
		}
	}
	return out
}

// top returns the count positions with the highest scores, sorted
// ascending. Ties go to the lower position (torch.topk leaves the order of
// ties unspecified; picking the lowest index makes runs reproducible); NaN
// ranks below every number.
func top(scores []float64, count int) []int {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := compareScores(scores[b], scores[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	kept := order[:min(count, len(order))]
	slices.Sort(kept)
	return kept
}

// compareScores orders scores ascending with NaN below everything.
func compareScores(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	return cmp.Compare(a, b)
}

// withWindow appends the window positions n-w .. n-1 to the kept prefix
// positions.
func withWindow(kept []int, tokens, window int) []int {
	out := make([]int, 0, len(kept)+window)
	out = append(out, kept...)
	for j := tokens - window; j < tokens; j++ {
		out = append(out, j)
	}
	return out
}

// all returns 0 .. n-1.
func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func checkBudget(budget int, p Params) error {
	if budget <= p.Window {
		return fmt.Errorf("selection: budget %d: want more than the window %d", budget, p.Window)
	}
	return nil
}

// CompressKV returns the prompt positions layer l keeps under budget: the
// top budget-w positions before the window by the pooled window attention
// averaged over the given query heads (the layer's top-k semantic retrieval
// heads), plus the window. The same positions are kept for every KV head.
// When the prompt is not longer than the budget every position is kept.
func CompressKV(l Layer, heads []int, budget int, p Params) ([]int, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := checkBudget(budget, p); err != nil {
		return nil, err
	}
	if l.Tokens <= budget {
		return all(l.Tokens), nil
	}
	if err := l.validate(p.Window); err != nil {
		return nil, err
	}
	if len(heads) == 0 {
		return nil, fmt.Errorf("selection: CompressKV needs at least one query head")
	}
	sc, err := NewScores(l, heads, p)
	if err != nil {
		return nil, err
	}
	return sc.CompressKV(heads, budget)
}

// SnapKV returns, per KV head ([KVHeads][]int), the prompt positions kept
// under budget: the top budget-w positions by the pooled window attention
// averaged over the query heads grouped with that KV head (see
// Params.ReferenceGrouping), plus the window.
func SnapKV(l Layer, budget int, p Params) ([][]int, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := checkBudget(budget, p); err != nil {
		return nil, err
	}
	if l.Tokens <= budget {
		if l.KVHeads < 1 {
			return nil, fmt.Errorf("selection: %d KV heads: want at least 1", l.KVHeads)
		}
		kept := make([][]int, l.KVHeads)
		for g := range kept {
			kept[g] = all(l.Tokens)
		}
		return kept, nil
	}
	if err := l.validate(p.Window); err != nil {
		return nil, err
	}
	sc, err := NewScores(l, nil, p)
	if err != nil {
		return nil, err
	}
	return sc.SnapKV(budget)
}

// PyramidBudget returns PyramidKV's budget for layer (0-based) of layers
// for a prompt of tokens positions, transcribing the reference
// (KVCache-Factory's PyramidKVCluster, also used by CompressKV's baselines):
//
//	base = budget - window
//	min  = base // beta
//	max  = 2*base - min
//	if max >= tokens - window: max = tokens - window; min = 2*base - max
//	steps = (max - min) // (layers - 1)
//	budget_l = max - layer*steps + window
//
// with Python's floor division. Budgets fall linearly from the first layer
// to the last and average about budget; the floor divisions make the total
// slightly smaller than layers*budget. The reference computes this once for
// the first prompt it sees and keeps it; we compute it per prompt. A model
// with one layer gets budget.
func PyramidBudget(layer, layers, budget, window, tokens, beta int) int {
	if layers <= 1 || beta < 1 {
		return budget
	}
	base := budget - window
	minNum := floorDiv(base, beta)
	maxNum := 2*base - minNum
	if maxNum >= tokens-window {
		maxNum = tokens - window
		minNum = 2*base - maxNum
	}
	steps := floorDiv(maxNum-minNum, layers-1)
	return maxNum - layer*steps + window
}

// floorDiv is Python's a // b for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// PyramidKV returns, per KV head, the positions kept by SnapKV at the
// PyramidBudget of this layer. beta < 1 selects DefaultPyramidBeta.
func PyramidKV(l Layer, layer, layers, budget, beta int, p Params) ([][]int, error) {
	if beta < 1 {
		beta = DefaultPyramidBeta
	}
	if layer < 0 || layer >= layers {
		return nil, fmt.Errorf("selection: layer %d: model has %d", layer, layers)
	}
	layerBudget := PyramidBudget(layer, layers, budget, p.Window, l.Tokens, beta)
	if layerBudget <= p.Window {
		return nil, fmt.Errorf("selection: PyramidKV budget %d of layer %d (average %d, %d layers, beta %d): not more than the window %d", layerBudget, layer, budget, layers, beta, p.Window)
	}
	return SnapKV(l, layerBudget, p)
}

// StreamingLLM returns the positions kept under budget for a prompt of
// tokens positions: the first Sinks (attention sinks) and the most recent
// budget - Sinks. A budget of Sinks or less keeps the first budget
// positions. (The CompressKV reference's "streamingllm" baseline instead
// keeps the first budget-w and the window; we follow StreamingLLM's paper.)
func StreamingLLM(tokens, budget int) []int {
	if tokens <= budget {
		return all(tokens)
	}
	budget = max(budget, 0)
	sinks := min(Sinks, budget)
	out := make([]int, 0, budget)
	for j := 0; j < sinks; j++ {
		out = append(out, j)
	}
	for j := tokens - (budget - sinks); j < tokens; j++ {
		out = append(out, j)
	}
	return out
}
