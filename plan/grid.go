package plan

import (
	"time"
)

// The needle and question lengths GridSequences callers assume for a grid
// laid out without a tokenizer (a generated needle sentence and the raw
// template's question, in Llama tokens); they move a reference-grid
// projection by well under 1 %.
const (
	AssumedNeedleTokens   = 30
	AssumedQuestionTokens = 30
)

// NewRates prices a prefill at flops FLOP/s, the layer matrices and the
// attention pairs alike (WithAttentionRate prices the pairs at attention's
// own measured rate), and a decode step as stepFixed plus perPosition seconds for every
// cached position it attends to.
func (s Shape) NewRates(flops float64, stepFixed time.Duration, perPosition float64, source string) Rates {
	return Rates{
		PrefillPerToken: time.Duration(2 * float64(s.LayerParams()) / flops * float64(time.Second)),
		PrefillPerPair:  4 * float64(s.Layers*s.Heads*s.HeadDim) / flops,
		StepFixed:       stepFixed,
		StepPerPosition: perPosition,
		Source:          source,
		CPUShare:        1,
	}
}

// KVReadSeconds is the time a decode step spends per cached position
// reading its keys and values (kvBytes per value) at bandwidth bytes/s.
func (s Shape) KVReadSeconds(kvBytes int, bandwidth float64) float64 {
	return float64(s.KVBytesPerPosition(kvBytes)) / bandwidth
}

// LMHeadSeconds is the time of one decode step's lm_head, a GEMV of
// vocab x hidden weights of weightBytes each, at bandwidth bytes/s: it is
// memory bound.
func (s Shape) LMHeadSeconds(weightBytes int, bandwidth float64) float64 {
	return float64(s.Vocab) * float64(s.Hidden) * float64(weightBytes) / bandwidth
}

// WithLayerSpeedup returns r with the layer matrices' prefill running f
// times faster (bf16 dot-product compute: the measured GEMM rate ratio);
// attention and decode are unchanged.
func (r Rates) WithLayerSpeedup(f float64) Rates {
	if f > 0 {
		r.PrefillPerToken = time.Duration(float64(r.PrefillPerToken) / f)
	}
	return r
}

// WithAttentionRate returns r with prefill attention's (query, key) pairs
// priced at flops FLOP/s (4·headDim FLOPs per query head and layer, as
// model.AttentionRate counts them) instead of at the rate r came with;
// the layer matrices and decode are unchanged, and so is r when flops is
// not positive. Attention's tiles run slower than the projections' GEMM
// (the softmax, the masks and the packing between them), so pricing the
// pairs at the prefill's FLOP rate makes long prompts look cheaper than
// they are.
func (r Rates) WithAttentionRate(s Shape, flops float64) Rates {
	if flops > 0 {
		r.PrefillPerPair = 4 * float64(s.Layers*s.Heads*s.HeadDim) / flops
	}
	return r
}

// Compute is what a grid projection measured beyond its rates: bf16
// compute's speedup of the layer matrices, and prefill attention's own
// rates, which price the attention pairs in all three projections.
type Compute struct {
	// LayerSpeedup is the bf16 dot-product GEMM rate over the f32 one
	// (0 or 1: the same).
	LayerSpeedup float64
	// Attention is prefill attention's measured rate in FLOP/s under the
	// compute the rates were measured with, AttentionBF16 under bf16
	// compute (0: the pairs keep the rates' own price).
	Attention, AttentionBF16 float64
}

// AttentionSpeedup is bf16 compute's prefill attention rate over the
// rates' own (1 when either is unmeasured).
func (c Compute) AttentionSpeedup() float64 {
	if c.Attention > 0 && c.AttentionBF16 > 0 {
		return c.AttentionBF16 / c.Attention
	}
	return 1
}

// GridProjection is a run projected three ways from the same rates.
type GridProjection struct {
	NoReuse, Reuse, ReuseBF16 Projection
	// ReusedFraction is the share of the prompt positions prefix reuse
	// takes from the cache.
	ReusedFraction float64
	// Plain and Reused are the plans without and with prefix reuse.
	Plain, Reused *Plan
}

// ProjectGrid projects seqs without prefix reuse, with it, and with reuse
// and bf16 compute: r's layer matrices sped up by c.LayerSpeedup, the
// attention pairs priced at c.Attention, or at c.AttentionBF16 under bf16
// compute. o.Reuse is ignored.
func ProjectGrid(shape Shape, seqs []Sequence, o Options, r Rates, c Compute) GridProjection {
	o.Reuse = false
	plain := Make(shape, seqs, o)
	o.Reuse = true
	reused := Make(shape, seqs, o)
	g := GridProjection{
		NoReuse:   plain.Project(r.WithAttentionRate(shape, c.Attention)),
		Reuse:     reused.Project(r.WithAttentionRate(shape, c.Attention)),
		ReuseBF16: reused.Project(r.WithLayerSpeedup(c.LayerSpeedup).WithAttentionRate(shape, c.AttentionBF16)),
		Plain:     plain, Reused: reused,
	}
	if reused.PromptTokens > 0 {
		g.ReusedFraction = float64(reused.ReusedTokens) / float64(reused.PromptTokens)
	}
	return g
}

// GridSequences lays out a needle grid's prompts without a tokenizer, with
// the prefix structure needle.Build gives them: one haystack of distinct
// ids shared by every probe (so the prefix of every needle, length and
// depth is the haystack up to the needle), cut to length - buffer -
// needleTokens, the needle's own ids inserted at depth percent of it, then
// its question; each decodes maxNew steps. Enough to count a grid's costs
// for a model shape alone (bench); with a tokenizer, count the real probes.
func GridSequences(lengths []int, depths []float64, needles, buffer, needleTokens, questionTokens, maxNew int) []Sequence {
	longest := 0
	for _, l := range lengths {
		longest = max(longest, l)
	}
	hay := make([]int, longest)
	for i := range hay {
		hay[i] = 1 + i // 0 is BOS; needles and questions use negative ids
	}
	var seqs []Sequence
	for n := range needles {
		for _, l := range lengths {
			room := l - buffer - needleTokens
			if room < 1 {
				continue
			}
			for _, d := range depths {
				at := int(float64(room) * d / 100)
				ids := make([]int, 0, 1+room+needleTokens+questionTokens)
				ids = append(ids, 0)
				ids = append(ids, hay[:at]...)
				for j := range needleTokens {
					ids = append(ids, -1-n*(needleTokens+questionTokens)-j)
				}
				ids = append(ids, hay[at:room]...)
				for j := range questionTokens {
					ids = append(ids, -1-n*(needleTokens+questionTokens)-needleTokens-j)
				}
				seqs = append(seqs, Sequence{Prefill: ids[:len(ids)-1], Steps: maxNew})
			}
		}
	}
	return seqs
}
