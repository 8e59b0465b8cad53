package calibrate

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"

	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/needle"
)

// capture records, at the end of prefill, every layer's window queries and
// keys as selection layers.
type capture struct {
	window int
	layers []selection.Layer
}

func (c *capture) WantProbs() bool              { return false }
func (c *capture) QueryWindow() int             { return c.window }
func (c *capture) DecodeStep(*model.DecodeView) {}
func (c *capture) PrefillEnd(v *model.PrefillView) {
	cache := v.Cache
	n, g, d := cache.Len(), cache.KVHeads(), cache.HeadDim()
	l := selection.Layer{Tokens: n, KVHeads: g, HeadDim: d, Queries: slices.Clone(v.Queries)}
	l.Heads = len(v.Queries) / (len(v.Positions) * d)
	for k := 0; k < g; k++ { // copied: the cache may not be kept past the callback
		m := cache.Keys(k)
		m.F32, m.U16 = slices.Clone(m.F32), slices.Clone(m.U16)
		l.Keys = append(l.Keys, m)
	}
	c.layers = append(c.layers, l)
}

// inSpan counts the kept positions inside [start, end).
func inSpan(kept []int, start, end int) int {
	n := 0
	for _, p := range kept {
		if p >= start && p < end {
			n++
		}
	}
	return n
}

// synthProbes writes the built-in synthetic model and builds needle probes
// for it.
func synthProbes(t *testing.T) (*model.Model, *synth.Info, []needle.Probe) {
	t.Helper()
	dir := t.TempDir()
	info, err := synth.Write(dir, synth.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	m, tok := modeltest.Load(t, dir)
	tmpl, err := needle.TemplateFor("answer-prefix")
	if err != nil {
		t.Fatal(err)
	}
	probes, _, err := needle.Build(tok, needle.GenerateHaystack(3, 4000), needle.GenerateNeedles(3, 2), needle.Settings{
		Grid:     needle.Grid{ContextLengths: []int{256, 512}, Depths: []float64{20, 60}, Buffer: 50},
		Template: tmpl, AddSpecial: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) < 4 {
		t.Fatalf("built %d probes, want 8 (some skipped)", len(probes))
	}
	return m, info, probes
}

// TestSelectionKeepsNeedleOnSynth checks, on the synthetic model with its
// planted retrieval heads, what the CompressKV selection at budget 32 led
// by the planted head keeps of the needle's answer span, against SnapKV and
// StreamingLLM at the same budget, counted over every KV head's cache (the
// answer's keys and values survive per KV head).
//
// At the end of prefill the planted (induction) head's window queries point
// at the needle words before the answer and at the answer's first token, so
// pooling carries the selection over the answer's first tokens: CompressKV
// must keep the answer tokens within the pooling reach (the first
// kernel/2+1) in every layer and KV head. SnapKV
// keeps what each KV head's own query heads look at: the planted head's KV
// head keeps the same answer tokens, the other KV heads (sink, local and
// previous-token heads) lose them. StreamingLLM keeps only the first 4 and
// the last 28 positions, far from the needle.
func TestSelectionKeepsNeedleOnSynth(t *testing.T) {
	m, info, probes := synthProbes(t)
	p := selection.DefaultParams()
	const budget = 32
	var compress, snap, snapOwn, compressOwn, stream, span int
	for _, pr := range probes {
		c := &capture{window: p.Window}
		if err := modeltest.NewSession(t, m, model.SessionOptions{}).Prefill(t.Context(), pr.IDs, c); err != nil {
			t.Fatal(err)
		}
		for layer, head := range info.Retrieval {
			l := c.layers[layer]
			kept, err := selection.CompressKV(l, []int{head}, budget, p)
			if err != nil {
				t.Fatal(err)
			}
			// The planted head's last query points at the first answer
			// token; pooling (kernel 5, padding 2) carries its score over
			// the next kernel/2 positions, so those answer tokens are kept.
			for pos := pr.SpanStart; pos < min(pr.SpanEnd, pr.SpanStart+p.Kernel/2+1); pos++ {
				if !slices.Contains(kept, pos) {
					t.Errorf("probe %d layer %d: CompressKV kept %v, not answer token %d of span [%d,%d)", pr.Index, layer, kept, pos, pr.SpanStart, pr.SpanEnd)
				}
			}
			perKV, err := selection.SnapKV(l, budget, p)
			if err != nil {
				t.Fatal(err)
			}
			own := head / (l.Heads / l.KVHeads)
			streaming := selection.StreamingLLM(l.Tokens, budget)
			for kv := range perKV {
				span += pr.SpanEnd - pr.SpanStart
				compress += inSpan(kept, pr.SpanStart, pr.SpanEnd)
				snap += inSpan(perKV[kv], pr.SpanStart, pr.SpanEnd)
				stream += inSpan(streaming, pr.SpanStart, pr.SpanEnd)
			}
			compressOwn += inSpan(kept, pr.SpanStart, pr.SpanEnd)
			snapOwn += inSpan(perKV[own], pr.SpanStart, pr.SpanEnd)
		}
	}
	t.Logf("answer-span cache entries kept over %d probes x %d retrieval layers x all KV heads: CompressKV %d, SnapKV %d, StreamingLLM %d of %d; in the planted head's KV head: CompressKV %d, SnapKV %d",
		len(probes), len(info.Retrieval), compress, snap, stream, span, compressOwn, snapOwn)
	if snap >= compress {
		t.Errorf("SnapKV kept %d answer-span cache entries, want fewer than CompressKV's %d", snap, compress)
	}
	if stream >= compress {
		t.Errorf("StreamingLLM kept %d answer-span cache entries, want fewer than CompressKV's %d", stream, compress)
	}
	if snapOwn > compressOwn {
		t.Errorf("in the planted head's KV head SnapKV kept %d answer-span tokens, CompressKV %d", snapOwn, compressOwn)
	}
}

// TestRunOnSynth calibrates the synthetic model on needle probes with its
// planted heads ranked first: the errors are finite, layer 0 (whose heads
// only look at the sink and the last tokens, which the selection keeps)
// loses nothing, the retrieval layers (whose heads read needle tokens past
// the kept answer start) err, and the result does not depend on
// parallelism.
func TestRunOnSynth(t *testing.T) {
	m, info, probes := synthProbes(t)
	ranking := make([][]int, m.Config().NumLayers)
	for l := range ranking {
		first := 0
		if h, ok := info.Retrieval[l]; ok {
			first = h
		}
		ranking[l] = []int{first}
		for h := 0; h < m.Config().NumHeads; h++ {
			if h != first {
				ranking[l] = append(ranking[l], h)
			}
		}
	}
	d := Dataset{Name: "needles", MaxNew: 4}
	for _, pr := range probes[:3] {
		d.Prompts = append(d.Prompts, pr.IDs)
	}
	opts := DefaultOptions()
	opts.Workers = 1
	c1, err := Run(context.Background(), m, []Dataset{d}, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Workers = 2
	c2, err := Run(context.Background(), m, []Dataset{d}, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := marshal(t, c1), marshal(t, c2); !bytes.Equal(a, b) {
		t.Errorf("synthetic calibration differs between runs:\n%s\n%s", a, b)
	}
	t.Logf("layer errors %v, scores %v", c1.Datasets[0].LayerErrors, c1.LayerScores)
	for l, e := range c1.Datasets[0].LayerErrors {
		_, retrieval := info.Retrieval[l]
		if math.IsNaN(e) || math.IsInf(e, 0) || e < 0 || (retrieval && e == 0) {
			t.Errorf("layer %d (retrieval head: %v) error %v: want finite, positive in retrieval layers", l, retrieval, e)
		}
	}
}
