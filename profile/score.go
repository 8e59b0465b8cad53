package profile

import (
	"fmt"
	"sort"

	"github.com/compresskv/compresskv/internal/half"
	"github.com/compresskv/compresskv/model"
)

// ProbeScores are one probe's head scores, each [layers][heads].
type ProbeScores struct {
	SRH       [][]float64 // semantic retrieval score
	Retrieval [][]float64 // classic retrieval score (Wu et al.)
}

// newMatrix returns a zero [layers][heads] matrix.
func newMatrix(layers, heads int) [][]float64 {
	m := make([][]float64, layers)
	for l := range m {
		m[l] = make([]float64, heads)
	}
	return m
}

// Accumulator collects one probe's head scores over its decode steps.
//
// A decode step has two halves: the forward pass of the fed token hands
// every layer's attention rows to Observe, and once the step's logits give
// the produced token, Commit pairs those rows with it. Only two reductions
// of each row are kept — the attention mass on the answer span and the
// top-1 attended position — so the memory is O(layers x heads), however long
// the prompt.
type Accumulator struct {
	layers, heads int
	prompt        []int // prompt token ids
	spanStart     int   // answer span [spanStart, spanEnd) in prompt
	spanEnd       int
	normalized    bool
	bf16          bool // span masses in the reference's bfloat16 arithmetic

	spanMass [][]float64 // [layers][heads]: sum_{j in span} a[l][h][j] of the current step
	top      [][]int     // [layers][heads]: argmax_j a[l][h][j] of the current step
	seen     []bool      // [layers]: Observe called in the current step
	scores   ProbeScores
	steps    int
}

// NewAccumulator starts a probe of a model with the given layers and query
// heads. prompt holds the prompt ids and [spanStart, spanEnd) is the answer
// span inside it; [-1, -1] means no span, and every score stays zero. With normalized, SRH uses compresskv's normalised variant
// (a deviation, see the package documentation); otherwise it is exactly the
// reference's sum.
func NewAccumulator(layers, heads int, prompt []int, spanStart, spanEnd int, normalized bool) (*Accumulator, error) {
	if layers <= 0 || heads <= 0 {
		return nil, fmt.Errorf("profile: accumulator for %d layers x %d heads", layers, heads)
	}
	if spanStart == -1 && spanEnd == -1 {
		// No span (the reference's find_needle_idx found none): the probe
		// runs and scores nothing, as in the reference.
		spanStart, spanEnd = 0, 0
	} else if spanStart < 0 || spanEnd <= spanStart || spanEnd > len(prompt) {
		return nil, fmt.Errorf("profile: answer span [%d,%d) is empty or outside the %d-token prompt", spanStart, spanEnd, len(prompt))
	}
	a := &Accumulator{
		layers: layers, heads: heads,
		prompt: prompt, spanStart: spanStart, spanEnd: spanEnd,
		normalized: normalized,
		spanMass:   newMatrix(layers, heads),
		top:        make([][]int, layers),
		seen:       make([]bool, layers),
		scores:     ProbeScores{SRH: newMatrix(layers, heads), Retrieval: newMatrix(layers, heads)},
	}
	for l := range a.top {
		a.top[l] = make([]int, heads)
	}
	return a, nil
}

// Observe records layer's attention rows for the current decode step:
// probs is [heads][positions], the post-softmax attention of the current
// query over every cached position (the answer span must lie inside).
func (a *Accumulator) Observe(layer int, probs [][]float32) error {
	if layer < 0 || layer >= a.layers {
		return fmt.Errorf("profile: attention of layer %d, model has %d layers", layer, a.layers)
	}
	if len(probs) != a.heads {
		return fmt.Errorf("profile: layer %d: attention rows for %d heads, want %d", layer, len(probs), a.heads)
	}
	for h, row := range probs {
		if len(row) < a.spanEnd {
			return fmt.Errorf("profile: layer %d head %d: attention row over %d positions does not cover the answer span [%d,%d)",
				layer, h, len(row), a.spanStart, a.spanEnd)
		}
		a.spanMass[layer][h] = a.mass(row[a.spanStart:a.spanEnd])
		a.top[layer][h] = model.Argmax(row)
	}
	a.seen[layer] = true
	return nil
}

// UseBF16SpanMass makes the span mass the reference's: its attention
// weights are bfloat16 (the model's dtype), and
// attention[span].sum().item() sums them in float32 and rounds the sum to
// bfloat16 before Python accumulates it in float64.
func (a *Accumulator) UseBF16SpanMass() { a.bf16 = true }

// mass is the attention mass of one head's row over the span.
func (a *Accumulator) mass(span []float32) float64 {
	if a.bf16 {
		var sum float32
		for _, p := range span {
			sum += half.BF16ToFloat32(half.Float32ToBF16(p))
		}
		return float64(half.BF16ToFloat32(half.Float32ToBF16(sum)))
	}
	mass := 0.0
	for _, p := range span {
		mass += float64(p)
	}
	return mass
}

// Commit pairs the rows observed in this step with generated, the token the
// step's query produced, adds the step to the scores, and starts the next
// step. Every layer must have been observed since the last Commit.
//
// SRH: each span position i with prompt[i] == generated adds the span mass
// (k occurrences add it k times). Classic: a head whose top-1 position i is
// in the span with prompt[i] == generated gains 1/(spanEnd-spanStart).
func (a *Accumulator) Commit(generated int) error {
	for l, ok := range a.seen {
		if !ok {
			return fmt.Errorf("profile: decode step %d: no attention observed for layer %d", a.steps, l)
		}
	}
	spanLen := a.spanEnd - a.spanStart
	occurrences := 0
	for _, id := range a.prompt[a.spanStart:a.spanEnd] {
		if id == generated {
			occurrences++
		}
	}
	weight := float64(occurrences)
	if a.normalized && occurrences > 0 {
		weight = 1 / float64(spanLen)
	}
	for l := 0; l < a.layers; l++ {
		for h := 0; h < a.heads; h++ {
			if occurrences > 0 {
				a.scores.SRH[l][h] += weight * a.spanMass[l][h]
			}
			if i := a.top[l][h]; i >= a.spanStart && i < a.spanEnd && a.prompt[i] == generated {
				a.scores.Retrieval[l][h] += 1 / float64(spanLen)
			}
		}
		a.seen[l] = false
	}
	a.steps++
	return nil
}

// Steps returns the number of committed decode steps.
func (a *Accumulator) Steps() int { return a.steps }

// Scores returns the probe's scores so far (the accumulator's own matrices).
func (a *Accumulator) Scores() ProbeScores { return a.scores }

// Mean returns the element-wise mean of the probes' scores, summed in the
// given order (so equal inputs in equal order give bit-equal means), and
// zero matrices when there is no probe.
func Mean(layers, heads int, probes []ProbeScores) ProbeScores {
	out := ProbeScores{SRH: newMatrix(layers, heads), Retrieval: newMatrix(layers, heads)}
	for _, p := range probes {
		for l := 0; l < layers; l++ {
			for h := 0; h < heads; h++ {
				out.SRH[l][h] += p.SRH[l][h]
				out.Retrieval[l][h] += p.Retrieval[l][h]
			}
		}
	}
	if n := float64(len(probes)); n > 0 {
		for l := 0; l < layers; l++ {
			for h := 0; h < heads; h++ {
				out.SRH[l][h] /= n
				out.Retrieval[l][h] /= n
			}
		}
	}
	return out
}

// Rank returns, per layer, the head indices ordered by score descending,
// equal scores by lower head index. That is what the reference's stable
// Python sorted(..., reverse=True) over heads in index order gives.
func Rank(scores [][]float64) [][]int {
	out := make([][]int, len(scores))
	for l, row := range scores {
		idx := make([]int, len(row))
		for h := range idx {
			idx[h] = h
		}
		sort.SliceStable(idx, func(i, j int) bool { return row[idx[i]] > row[idx[j]] })
		out[l] = idx
	}
	return out
}
