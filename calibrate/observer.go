package calibrate

import (
	"fmt"
	"math"

	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
)

// frobeniusEps is the reference's eps in ||O_c - O||_F / (||O||_F + eps).
const frobeniusEps = 1e-5

// ErrorObserver measures how much each layer's attention output changes
// when its cache is cut to the CompressKV selection. At the end of prefill
// it selects, per layer, budget prompt positions with the layer's top-k
// heads; at every decode step it recomputes the layer's attention over the
// kept prompt positions plus every position generated since (the current
// one included), projects it through o_proj, and adds the relative
// Frobenius error against the full-cache output. The forward pass itself
// always uses the full cache, so the trajectory is the uncompressed model's.
//
// One ErrorObserver serves one prompt: Prefill, then Steps. Errors inside
// callbacks (which cannot return them) are kept and reported by Err.
type ErrorObserver struct {
	heads  [][]int // [layers][k] query heads whose attention selects tokens
	budget int
	params selection.Params

	prompt int     // n: cache length at the end of prefill
	keep   [][]int // [layers] kept positions so far; nil = nothing evicted
	errors []float64
	steps  []int
	pre    []float32 // scratch [heads*headDim]
	post   []float32 // scratch [hidden]
	err    error
}

// NewErrorObserver returns an observer for a model of len(heads) layers;
// heads[l] are the query heads (best first, already cut to k) that select
// layer l's tokens.
func NewErrorObserver(heads [][]int, budget int, p selection.Params) (*ErrorObserver, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if budget <= p.Window {
		return nil, fmt.Errorf("calibration budget %d: want more than the window %d", budget, p.Window)
	}
	for l, hs := range heads {
		if len(hs) == 0 {
			return nil, fmt.Errorf("layer %d: no ranked heads to select tokens with", l)
		}
	}
	layers := len(heads)
	return &ErrorObserver{
		heads:  heads,
		budget: budget,
		params: p,
		keep:   make([][]int, layers),
		errors: make([]float64, layers),
		steps:  make([]int, layers),
	}, nil
}

// WantProbs implements model.Observer: no attention rows are needed.
func (o *ErrorObserver) WantProbs() bool { return false }

// QueryWindow implements model.QueryWindower: the observation window.
func (o *ErrorObserver) QueryWindow() int { return o.params.Window }

// PrefillEnd implements model.Observer.
func (o *ErrorObserver) PrefillEnd(v *model.PrefillView) {
	c := v.Cache
	o.prefill(v.Layer, c.Len(), c.KVHeads(), c.HeadDim(), v.Positions, v.Queries, c.Keys)
}

// DecodeStep implements model.Observer.
func (o *ErrorObserver) DecodeStep(v *model.DecodeView) {
	o.step(v.Layer, v.Pos, len(v.Query), v.Projected, v.AttendSubset)
}

// prefill selects the kept prompt positions of one layer. positions and
// queries ([len(positions), heads*headDim]) are the last queries of the
// prompt; keys views the cached post-RoPE keys of one KV head [tokens,
// headDim] (model.LayerCache.Keys), read in place.
func (o *ErrorObserver) prefill(layer, tokens, kvHeads, headDim int, positions []int, queries []float32, keys func(kvHead int) kernels.Matrix) {
	if o.err != nil {
		return
	}
	if layer < 0 || layer >= len(o.heads) {
		o.err = fmt.Errorf("prefill: layer %d: the head ranking has %d layers", layer, len(o.heads))
		return
	}
	if layer == 0 {
		o.prompt = tokens
	} else if tokens != o.prompt {
		o.err = fmt.Errorf("prefill: layer %d holds %d positions, layer 0 held %d", layer, tokens, o.prompt)
		return
	}
	o.keep[layer] = nil
	if tokens <= o.budget {
		return // nothing is evicted: the layer's error is 0
	}
	w := o.params.Window
	if len(positions) != w || positions[w-1] != tokens-1 {
		o.err = fmt.Errorf("prefill: layer %d: got queries of positions %v, want the last %d of %d", layer, positions, w, tokens)
		return
	}
	heads := len(queries) / (w * headDim)
	l := selection.Layer{Tokens: tokens, Heads: heads, KVHeads: kvHeads, HeadDim: headDim, Queries: queries, Keys: selection.KeysOf(kvHeads, keys)}
	kept, err := selection.CompressKV(l, o.heads[layer], o.budget, o.params)
	if err != nil {
		o.err = fmt.Errorf("prefill: layer %d: %w", layer, err)
		return
	}
	o.keep[layer] = kept
}

// step adds one decode step's error of one layer. attention is
// heads*headDim, projected the full-cache output after o_proj [hidden];
// attend recomputes the attention over a subset of positions.
func (o *ErrorObserver) step(layer, pos, attention int, projected []float32, attend func(keep []int, pre, post []float32) error) {
	if o.err != nil {
		return
	}
	if layer < 0 || layer >= len(o.heads) {
		o.err = fmt.Errorf("decode: layer %d: the head ranking has %d layers", layer, len(o.heads))
		return
	}
	o.steps[layer]++
	kept := o.keep[layer]
	if kept == nil {
		return // prompt within budget: the cut cache is the full cache
	}
	// Every position generated since prefill stays: append up to pos.
	for p := kept[len(kept)-1] + 1; p <= pos; p++ {
		kept = append(kept, p)
	}
	o.keep[layer] = kept
	if len(o.post) < len(projected) {
		o.post = make([]float32, len(projected))
	}
	if len(o.pre) < attention {
		o.pre = make([]float32, attention)
	}
	if err := attend(kept, o.pre, o.post); err != nil {
		o.err = fmt.Errorf("decode: layer %d position %d: %w", layer, pos, err)
		return
	}
	o.errors[layer] += relativeError(o.post[:len(projected)], projected)
}

// relativeError returns ||cut - full||_F / (||full||_F + 1e-5).
func relativeError(cut, full []float32) float64 {
	var diff, norm float64
	for i, f := range full {
		d := float64(cut[i]) - float64(f)
		diff += d * d
		norm += float64(f) * float64(f)
	}
	return math.Sqrt(diff) / (math.Sqrt(norm) + frobeniusEps)
}

// Err returns the first error met in a callback, if any.
func (o *ErrorObserver) Err() error { return o.err }

// Errors returns the summed relative errors per layer so far ([layers]).
func (o *ErrorObserver) Errors() []float64 { return o.errors }

// Steps returns the decode steps seen by layer 0.
func (o *ErrorObserver) Steps() int {
	if len(o.steps) == 0 {
		return 0
	}
	return o.steps[0]
}

// Kept returns the positions layer l keeps so far (nil when the prompt was
// within the budget).
func (o *ErrorObserver) Kept(layer int) []int { return o.keep[layer] }
