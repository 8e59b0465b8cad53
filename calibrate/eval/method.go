package eval

import (
	"fmt"
	"slices"
	"strings"

	"github.com/compresskv/compresskv/calibrate/selection"
)

// Method is one way of cutting the KV cache after prefill.
type Method string

// The methods eval compares (docs/method.md section 3).
const (
	// Full keeps every position: the uncompressed model.
	Full Method = "full"
	// Streaming is StreamingLLM: the first selection.Sinks positions and
	// the most recent ones.
	Streaming Method = "streaming"
	// SnapKV scores positions with every query head, per KV head (the
	// average of the heads that read it), the same budget in every layer.
	SnapKV Method = "snapkv"
	// PyramidKV is SnapKV with budgets falling linearly across layers.
	PyramidKV Method = "pyramidkv"
	// CompressKV scores positions with the profile's top-k SRH heads of
	// each layer, keeps the same positions for every KV head, and gives
	// each layer the budget the profile's calibration allocated at that
	// average.
	CompressKV Method = "compresskv"
	// CompressKVUniform is CompressKV's selection with the same budget in
	// every layer: it separates the two halves of the method.
	CompressKVUniform Method = "compresskv-uniform"
)

// Methods lists every method in the order tables show them.
var Methods = []Method{Full, Streaming, SnapKV, PyramidKV, CompressKVUniform, CompressKV}

// DefaultBudgets are the average budgets (tokens per layer) eval runs when
// none are given.
var DefaultBudgets = []int{64, 128, 256, 512, 1024}

// ParseMethods reads method names, keeping their order; an unknown or
// repeated name is an error.
func ParseMethods(names []string) ([]Method, error) {
	var out []Method
	for _, n := range names {
		m := Method(strings.TrimSpace(strings.ToLower(n)))
		if !slices.Contains(Methods, m) {
			return nil, fmt.Errorf("unknown method %q: want one of %s", n, methodList())
		}
		if slices.Contains(out, m) {
			return nil, fmt.Errorf("method %q given twice", n)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no method: want one or more of %s", methodList())
	}
	return out, nil
}

func methodList() string {
	s := make([]string, len(Methods))
	for i, m := range Methods {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// NeedsProfile reports whether m reads the profile's head ranking.
func (m Method) NeedsProfile() bool { return m == CompressKV || m == CompressKVUniform }

// NeedsCalibration reports whether m reads the profile's per-layer budgets.
func (m Method) NeedsCalibration() bool { return m == CompressKV }

// Job is one compressed cache of a probe: a method at an average budget
// (0 for Full).
type Job struct {
	Method Method
	Budget int
}

// Jobs returns the method x budget pairs of a run: Full once (budget 0),
// every other method at every budget, in the order given.
func Jobs(methods []Method, budgets []int) []Job {
	var jobs []Job
	for _, m := range methods {
		if m == Full {
			jobs = append(jobs, Job{Method: Full})
			continue
		}
		for _, b := range budgets {
			jobs = append(jobs, Job{Method: m, Budget: b})
		}
	}
	return jobs
}

// Selector decides which positions every method keeps. It holds what the
// methods read of the profile; build it with NewSelector.
type Selector struct {
	Params      selection.Params
	Layers      int
	Heads       [][]int       // [layers][k] the top-k SRH heads that score positions (CompressKV)
	Budgets     map[int][]int // average -> [layers] calibrated budgets (CompressKV)
	PyramidBeta int           // 0: selection.DefaultPyramidBeta
}

// Check reports jobs the selector cannot run: a budget not above the
// window, CompressKV methods without a ranking, CompressKV without the
// calibrated budgets of an average.
func (s *Selector) Check(jobs []Job) error {
	if err := s.Params.Validate(); err != nil {
		return err
	}
	for _, j := range jobs {
		if j.Method == Full {
			continue
		}
		if j.Budget <= s.Params.Window {
			return fmt.Errorf("budget %d: want more than the observation window %d (the window is always kept)", j.Budget, s.Params.Window)
		}
		if j.Method.NeedsProfile() && len(s.Heads) != s.Layers {
			return fmt.Errorf("method %s needs a profile's head ranking", j.Method)
		}
		if j.Method.NeedsCalibration() {
			b, ok := s.Budgets[j.Budget]
			if !ok {
				return fmt.Errorf("method %s at budget %d: the profile's calibration cannot allocate that average (below its per-layer floor?); use compresskv-uniform there", j.Method, j.Budget)
			}
			if len(b) != s.Layers {
				return fmt.Errorf("method %s at budget %d: the profile's budgets cover %d layers, the model has %d", j.Method, j.Budget, len(b), s.Layers)
			}
		}
	}
	return nil
}

func (s *Selector) beta() int {
	if s.PyramidBeta < 1 {
		return selection.DefaultPyramidBeta
	}
	return s.PyramidBeta
}

// NeedsKeys reports whether any job reads attention scores (everything
// but Full and Streaming), so the keys must be gathered for selection.
func NeedsKeys(jobs []Job) bool {
	for _, j := range jobs {
		if j.Method != Full && j.Method != Streaming {
			return true
		}
	}
	return false
}

// LayerBudget returns the number of positions job keeps in layer l of a
// prompt of tokens positions (before it is capped at tokens).
func (s *Selector) LayerBudget(j Job, l, tokens int) int {
	switch j.Method {
	case Full:
		return tokens
	case PyramidKV:
		return selection.PyramidBudget(l, s.Layers, j.Budget, s.Params.Window, tokens, s.beta())
	case CompressKV:
		return s.Budgets[j.Budget][l]
	}
	return j.Budget
}

// ScoredHeads returns the query heads whose scores jobs read in layer l:
// every head when SnapKV or PyramidKV runs, else the layer's ranked heads.
func (s *Selector) ScoredHeads(jobs []Job, l int) []int {
	var out []int
	for _, j := range jobs {
		switch j.Method {
		case SnapKV, PyramidKV:
			return nil // every head
		case CompressKV, CompressKVUniform:
			for _, h := range s.Heads[l] {
				if !slices.Contains(out, h) {
					out = append(out, h)
				}
			}
		}
	}
	return out
}

// Keep returns, per KV head, the positions job keeps of layer l
// ([kvHeads][]int, ascending), selecting from the layer's scores (nil when
// no job of the run reads scores). Nothing is evicted when the prompt fits
// the layer's budget.
func (s *Selector) Keep(j Job, l int, layer selection.Layer, scores *selection.Scores) ([][]int, error) {
	tokens := layer.Tokens
	same := func(pos []int) [][]int {
		out := make([][]int, layer.KVHeads)
		for g := range out {
			out[g] = pos
		}
		return out
	}
	budget := s.LayerBudget(j, l, tokens)
	if tokens <= budget || j.Method == Full {
		return same(allPositions(tokens)), nil
	}
	if j.Method == Streaming {
		return same(selection.StreamingLLM(tokens, budget)), nil
	}
	if scores == nil {
		return nil, fmt.Errorf("%s needs the layer's attention scores", j.Method)
	}
	switch j.Method {
	case SnapKV:
		return scores.SnapKV(budget)
	case PyramidKV:
		if budget <= s.Params.Window {
			// The reference's pyramid gives the last layers of a shallow
			// model no token beyond the window (base/beta floors to 0):
			// keep the window alone, as it does.
			return same(allPositions(tokens)[tokens-s.Params.Window:]), nil
		}
		return scores.SnapKV(budget)
	case CompressKV, CompressKVUniform:
		kept, err := scores.CompressKV(s.Heads[l], budget)
		if err != nil {
			return nil, err
		}
		return same(kept), nil
	}
	return nil, fmt.Errorf("unknown method %q", j.Method)
}

func allPositions(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
