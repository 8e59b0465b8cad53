package model

import (
	"fmt"
)

// Observer watches the forward pass, per layer, after attention. The model
// calls it and knows nothing about what it computes (head scores, layer
// errors). Views passed to an Observer, and every slice in them, are valid
// only during the call: copy what you keep, and never write to them.
// A nil Observer is allowed wherever one is taken.
type Observer interface {
	// WantProbs reports whether DecodeStep should carry post-softmax
	// attention rows (costly, so only on request).
	WantProbs() bool
	// PrefillEnd is called once per layer, in layer order, at the end of
	// Prefill, with the post-RoPE queries of the last positions of the call
	// and the layer's whole cache.
	PrefillEnd(p *PrefillView)
	// DecodeStep is called once per layer per Step, after o_proj and before
	// the residual add.
	DecodeStep(d *DecodeView)
}

// QueryWindower is implemented by observers that want PrefillView to carry
// a number of last queries other than DefaultQueryWindow.
type QueryWindower interface {
	QueryWindow() int
}

// DefaultQueryWindow is the number of last queries a PrefillView carries
// for observers that do not implement QueryWindower: the observation window
// w = 8 of SnapKV / CompressKV.
const DefaultQueryWindow = 8

// PrefillView is what PrefillEnd sees of one layer.
type PrefillView struct {
	Layer     int
	Window    int         // queries requested (QueryWindow)
	Positions []int       // [w'] positions of Queries, ascending; w' = min(Window, tokens fed by this Prefill)
	Queries   []float32   // [w', heads*headDim] post-RoPE queries of those positions
	Cache     *LayerCache // the layer's cache after the whole Prefill
}

// DecodeView is what DecodeStep sees of one layer at one decode step.
type DecodeView struct {
	Layer int
	Pos   int // position of the token being decoded (the cache holds 0..Pos)
	// Probs is nil unless WantProbs: [heads][Pos+1] post-softmax attention
	// rows over every cached position including Pos (positions outside a
	// sliding window are 0).
	Probs     [][]float32
	Query     []float32   // [heads*headDim] post-RoPE query
	Output    []float32   // [heads*headDim] attention output before o_proj
	Projected []float32   // [hidden] after o_proj, before the residual add
	Cache     *LayerCache // the layer's cache, holding positions 0..Pos

	attn  *attention
	oProj func(out, in []float32) // o_proj of this layer
}

// AttendSubset recomputes this step's attention using only the cache
// positions in keep (sorted ascending, distinct, each <= Pos; positions a
// sliding window hides are ignored) and writes the output before o_proj into
// pre [heads*headDim] and after o_proj into post [hidden]. It is the masked
// attention that layer calibration compares with the full one; it does not
// change the forward pass.
func (d *DecodeView) AttendSubset(keep []int, pre, post []float32) error {
	for i, p := range keep {
		if p < 0 || p > d.Pos || (i > 0 && p <= keep[i-1]) {
			return fmt.Errorf("AttendSubset: keep[%d] = %d: positions must be ascending, distinct and in 0..%d", i, p, d.Pos)
		}
	}
	if len(pre) < len(d.Query) || len(post) < len(d.Projected) {
		return fmt.Errorf("AttendSubset: pre has %d floats and post %d, want %d and %d", len(pre), len(post), len(d.Query), len(d.Projected))
	}
	d.attn.subset(pre, d.Query, d.Pos, d.Cache, keep)
	d.oProj(post, pre)
	return nil
}

// NopObserver observes nothing.
type NopObserver struct{}

// WantProbs implements Observer.
func (NopObserver) WantProbs() bool { return false }

// PrefillEnd implements Observer.
func (NopObserver) PrefillEnd(*PrefillView) {}

// DecodeStep implements Observer.
func (NopObserver) DecodeStep(*DecodeView) {}

// queryWindow returns how many last queries o wants at PrefillEnd.
func queryWindow(o Observer) int {
	if qw, ok := o.(QueryWindower); ok {
		return max(qw.QueryWindow(), 0)
	}
	return DefaultQueryWindow
}
