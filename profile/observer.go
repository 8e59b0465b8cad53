package profile

import (
	"github.com/compresskv/compresskv/model"
)

// Observer feeds a probe's Accumulator from the forward pass: it asks for
// post-softmax attention rows and hands each layer's rows of every decode
// step to Accumulator.Observe. The decode loop calls Accumulator.Commit
// with the token the step produced, once the step's logits are known (see
// the package documentation for the pairing).
type Observer struct {
	acc *Accumulator
	err error
}

// NewObserver returns an observer feeding acc.
func NewObserver(acc *Accumulator) *Observer { return &Observer{acc: acc} }

// WantProbs implements model.Observer: scoring needs the attention rows.
func (o *Observer) WantProbs() bool { return true }

// QueryWindow implements model.QueryWindower: no prefill queries needed.
func (o *Observer) QueryWindow() int { return 0 }

// PrefillEnd implements model.Observer; prefill is not scored.
func (o *Observer) PrefillEnd(*model.PrefillView) {}

// DecodeStep implements model.Observer. The model cannot take an error
// back, so the first one is kept for Err.
func (o *Observer) DecodeStep(d *model.DecodeView) {
	if o.err != nil {
		return
	}
	o.err = o.acc.Observe(d.Layer, d.Probs)
}

// Err returns the first error Observe reported, if any.
func (o *Observer) Err() error { return o.err }
