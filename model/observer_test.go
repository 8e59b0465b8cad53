package model_test

import (
	"math"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// checkingObserver compares everything the forward pass shows it with the
// float64 reference trace of the same sequence.
type checkingObserver struct {
	t         *testing.T
	ref       *modeltest.Reference
	trace     *modeltest.Trace
	window    int  // QueryWindow
	probs     bool // WantProbs
	fed       int  // tokens of the Prefill call
	prefills  int  // PrefillEnd calls seen
	decodes   int  // DecodeStep calls seen
	sawProbs  bool // some DecodeView carried Probs
	subsetErr float64
}

func (o *checkingObserver) WantProbs() bool  { return o.probs }
func (o *checkingObserver) QueryWindow() int { return o.window }

const obsTol = 1e-4

func (o *checkingObserver) PrefillEnd(p *model.PrefillView) {
	t, cfg := o.t, o.ref.Config
	o.prefills++
	qd, d := cfg.NumHeads*cfg.HeadDim, cfg.HeadDim
	wantRows := min(o.window, o.fed)
	if p.Window != o.window || len(p.Positions) != wantRows || len(p.Queries) != wantRows*qd {
		t.Fatalf("layer %d: window %d, %d positions, %d query floats; want %d, %d, %d", p.Layer, p.Window, len(p.Positions), len(p.Queries), o.window, wantRows, wantRows*qd)
	}
	for i, pos := range p.Positions {
		if pos != p.Cache.Len()-wantRows+i {
			t.Fatalf("layer %d: positions %v do not end at %d", p.Layer, p.Positions, p.Cache.Len()-1)
		}
		if e := relErr(p.Queries[i*qd:(i+1)*qd], o.trace.Queries[p.Layer][pos]); e > obsTol {
			t.Fatalf("layer %d: query of position %d: relative error %.3g", p.Layer, pos, e)
		}
	}
	// The cache holds the reference's post-RoPE keys and values.
	key := make([]float32, d)
	for pos := 0; pos < p.Cache.Len(); pos++ {
		for g := 0; g < p.Cache.KVHeads(); g++ {
			p.Cache.Key(pos, g, key)
			if e := relErr(key, o.trace.Keys[p.Layer][pos][g*d:(g+1)*d]); e > obsTol {
				t.Fatalf("layer %d: key %d/%d: relative error %.3g", p.Layer, pos, g, e)
			}
			p.Cache.Value(pos, g, key)
			if e := relErr(key, o.trace.Values[p.Layer][pos][g*d:(g+1)*d]); e > obsTol {
				t.Fatalf("layer %d: value %d/%d: relative error %.3g", p.Layer, pos, g, e)
			}
		}
	}
}

func (o *checkingObserver) DecodeStep(v *model.DecodeView) {
	t, cfg := o.t, o.ref.Config
	o.decodes++
	l, pos := v.Layer, v.Pos
	if v.Cache.Len() != pos+1 {
		t.Fatalf("layer %d: cache holds %d positions at step %d", l, v.Cache.Len(), pos)
	}
	for _, c := range []struct {
		what string
		got  []float32
		want []float64
	}{{"query", v.Query, o.trace.Queries[l][pos]}, {"output", v.Output, o.trace.Output[l][pos]}, {"projected", v.Projected, o.trace.Projected[l][pos]}} {
		if e := relErr(c.got, c.want); e > obsTol || len(c.got) != len(c.want) {
			t.Fatalf("layer %d pos %d: %s: relative error %.3g (%d values, want %d)", l, pos, c.what, e, len(c.got), len(c.want))
		}
	}
	if o.probs != (v.Probs != nil) {
		t.Fatalf("layer %d: WantProbs %v but Probs nil = %v", l, o.probs, v.Probs == nil)
	}
	if v.Probs != nil {
		o.sawProbs = true
		if len(v.Probs) != cfg.NumHeads {
			t.Fatalf("layer %d: %d prob rows", l, len(v.Probs))
		}
		for h, row := range v.Probs {
			var sum float64
			for _, p := range row {
				sum += float64(p)
			}
			if len(row) != pos+1 || math.Abs(sum-1) > 1e-5 {
				t.Fatalf("layer %d head %d: row of %d sums to %v", l, h, len(row), sum)
			}
			want := o.trace.Probs[l][h][pos][:pos+1]
			for j := range row {
				if math.Abs(float64(row[j])-want[j]) > 1e-5 {
					t.Fatalf("layer %d head %d: p[%d] = %v, reference %v", l, h, j, row[j], want[j])
				}
			}
		}
	}
	pre := make([]float32, len(v.Query))
	post := make([]float32, len(v.Projected))
	// Every position: the subset attention is the real attention.
	all := make([]int, pos+1)
	for i := range all {
		all[i] = i
	}
	if err := v.AttendSubset(all, pre, post); err != nil {
		t.Fatal(err)
	}
	if e1, e2 := relErr(pre, toF64(v.Output)), relErr(post, toF64(v.Projected)); e1 > 1e-5 || e2 > 1e-5 {
		t.Fatalf("layer %d pos %d: AttendSubset(all) differs from the forward pass: %.3g, %.3g", l, pos, e1, e2)
	}
	// A subset: every third position plus the last two.
	var keep []int
	for j := 0; j <= pos; j++ {
		if j%3 == 0 || j >= pos-1 {
			keep = append(keep, j)
		}
	}
	if err := v.AttendSubset(keep, pre, post); err != nil {
		t.Fatal(err)
	}
	wantPre, wantPost := o.ref.AttendSubset(o.trace, l, pos, keep)
	e1, e2 := relErr(pre, wantPre), relErr(post, wantPost)
	if e1 > obsTol || e2 > obsTol {
		t.Fatalf("layer %d pos %d: AttendSubset(%v): relative errors %.3g, %.3g", l, pos, keep, e1, e2)
	}
	o.subsetErr = math.Max(o.subsetErr, relErr(pre, o.trace.Output[l][pos]))
	if err := v.AttendSubset([]int{3, 2}, pre, post); err == nil {
		t.Fatal("AttendSubset accepted unsorted positions")
	}
	if err := v.AttendSubset([]int{pos + 1}, pre, post); err == nil {
		t.Fatal("AttendSubset accepted a future position")
	}
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// TestObservers checks the observer hook against the float64 reference:
// PrefillView queries and cache, DecodeView rows (summing to 1), outputs,
// and AttendSubset on all positions and on a subset; with GQA, Qwen2 bias
// and a Mistral sliding window, prefill in chunks of 5 so the query window
// spans chunks.
func TestObservers(t *testing.T) {
	cases := []struct {
		name string
		cfg  []byte
	}{
		{"llama GQA", tinyConfig("llama", 32, 4, 2, 8, "")},
		{"qwen2 bias", tinyConfig("qwen2", 32, 4, 1, 8, "")},
		{"mistral window 8", tinyConfig("mistral", 32, 4, 2, 8, `, "sliding_window": 8`)},
	}
	const prompt, steps = 23, 6
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, ref := loadRandom(t, tc.cfg, kernels.F32)
			ids := randomIDs(prompt+steps, m.Config().VocabSize, 21)
			trace := ref.Run(ids)
			withProbs := &checkingObserver{t: t, ref: ref, trace: trace, window: 8, probs: true, fed: prompt}
			noProbs := &checkingObserver{t: t, ref: ref, trace: trace, window: 3, fed: prompt}
			for _, obs := range []*checkingObserver{withProbs, noProbs} {
				s := modeltest.NewSession(t, m, model.SessionOptions{Chunk: 5})
				if err := s.Prefill(t.Context(), ids[:prompt], obs); err != nil {
					t.Fatal(err)
				}
				for _, id := range ids[prompt:] {
					if err := s.Step(id, obs); err != nil {
						t.Fatal(err)
					}
				}
			}
			L := m.Config().NumLayers
			for _, o := range []*checkingObserver{withProbs, noProbs} {
				if o.prefills != L || o.decodes != L*steps {
					t.Fatalf("observer saw %d PrefillEnd and %d DecodeStep calls, want %d and %d", o.prefills, o.decodes, L, L*steps)
				}
			}
			if !withProbs.sawProbs || noProbs.sawProbs {
				t.Fatal("probabilities went to the wrong observer")
			}
			// The subset really changes the output (else the test proves little).
			if withProbs.subsetErr < 1e-3 {
				t.Fatalf("subset attention equals full attention (%.3g): weak test", withProbs.subsetErr)
			}
		})
	}
}

// TestPrefillWindowShorterThanCall: a Prefill call of fewer tokens than the
// window shows only the queries of that call.
func TestPrefillWindowShorterThanCall(t *testing.T) {
	m, ref := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	ids := randomIDs(12, m.Config().VocabSize, 4)
	o := &checkingObserver{t: t, ref: ref, trace: ref.Run(ids), window: 8}
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	o.fed = 9
	if err := s.Prefill(t.Context(), ids[:9], o); err != nil {
		t.Fatal(err)
	}
	o.fed = 3
	if err := s.Prefill(t.Context(), ids[9:], o); err != nil {
		t.Fatal(err)
	}
	if o.prefills != 2*m.Config().NumLayers {
		t.Fatalf("%d PrefillEnd calls", o.prefills)
	}
}

func TestNopObserver(t *testing.T) {
	m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	var nop model.NopObserver
	if err := s.Prefill(t.Context(), []int{1, 2, 3}, nop); err != nil {
		t.Fatal(err)
	}
	if err := s.Step(4, nil); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 {
		t.Fatalf("Len %d", s.Len())
	}
}
