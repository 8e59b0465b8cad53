package selection

import "fmt"

// Scores holds the pooled window attention of some query heads of one
// layer (HeadScores of each), computed once, so that every policy and
// budget that reads them selects without recomputing attention: one
// prefill serves many budgets.
type Scores struct {
	layer  Layer       // shape only; Queries and Keys are not kept
	params Params      // the constants the scores were computed with
	heads  [][]float64 // [Heads] pooled scores of positions 0 .. n-w-1; nil for heads not scored
}

// NewScores scores the given query heads of l (nil: every head). A layer
// not longer than the window scores nothing: every budget keeps it whole.
func NewScores(l Layer, heads []int, p Params) (*Scores, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if l.Heads < 1 || l.KVHeads < 1 || l.Heads%l.KVHeads != 0 {
		return nil, fmt.Errorf("selection: layer shape heads=%d kvHeads=%d: want kvHeads >= 1 dividing heads", l.Heads, l.KVHeads)
	}
	s := &Scores{layer: Layer{Tokens: l.Tokens, Heads: l.Heads, KVHeads: l.KVHeads, HeadDim: l.HeadDim}, params: p, heads: make([][]float64, l.Heads)}
	if l.Tokens <= p.Window {
		return s, nil
	}
	if err := l.validate(p.Window); err != nil {
		return nil, err
	}
	if heads == nil {
		heads = all(l.Heads)
	}
	summed := make([]float64, l.Tokens-p.Window)
	logits := make([]float64, l.Tokens)
	for _, h := range heads {
		if h < 0 || h >= l.Heads {
			return nil, fmt.Errorf("selection: query head %d: layer has %d", h, l.Heads)
		}
		if s.heads[h] != nil {
			continue
		}
		clear(summed)
		windowAttention(summed, logits, l, h, p.Window)
		s.heads[h] = pool(summed, p.Kernel, p.Pooling)
	}
	return s, nil
}

// fits reports whether a budget keeps the whole prompt.
func (s *Scores) fits(budget int) bool { return s.layer.Tokens <= budget }

// CompressKV is CompressKV over the stored scores: the top budget-w
// positions by the mean of the given heads' scores, plus the window.
func (s *Scores) CompressKV(heads []int, budget int) ([]int, error) {
	if err := checkBudget(budget, s.params); err != nil {
		return nil, err
	}
	if s.fits(budget) {
		return all(s.layer.Tokens), nil
	}
	if len(heads) == 0 {
		return nil, fmt.Errorf("selection: CompressKV needs at least one query head")
	}
	mean := make([]float64, s.layer.Tokens-s.params.Window)
	for _, h := range heads {
		if h < 0 || h >= len(s.heads) || s.heads[h] == nil {
			return nil, fmt.Errorf("selection: query head %d was not scored", h)
		}
		for j, v := range s.heads[h] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(len(heads))
	}
	return withWindow(top(mean, budget-s.params.Window), s.layer.Tokens, s.params.Window), nil
}

// SnapKV is SnapKV over the stored scores (every head must be scored).
func (s *Scores) SnapKV(budget int) ([][]int, error) {
	if err := checkBudget(budget, s.params); err != nil {
		return nil, err
	}
	l, w := s.layer, s.params.Window
	if s.fits(budget) {
		kept := make([][]int, l.KVHeads)
		for g := range kept {
			kept[g] = all(l.Tokens)
		}
		return kept, nil
	}
	group := l.Heads / l.KVHeads
	means := make([][]float64, l.KVHeads) // [kvHeads, n-w]
	for g := range means {
		means[g] = make([]float64, l.Tokens-w)
	}
	for h, sc := range s.heads {
		if sc == nil {
			return nil, fmt.Errorf("selection: SnapKV needs every query head scored; head %d was not", h)
		}
		g := h / group
		if s.params.ReferenceGrouping {
			g = h % l.KVHeads
		}
		for j, v := range sc {
			means[g][j] += v
		}
	}
	kept := make([][]int, l.KVHeads)
	for g, mean := range means {
		for j := range mean {
			mean[j] /= float64(group)
		}
		kept[g] = withWindow(top(mean, budget-w), l.Tokens, w)
	}
	return kept, nil
}
