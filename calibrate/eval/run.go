package eval

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
)

// Defaults of the decoding and the success gate: profile's.
const (
	DefaultMaxNewTokens  = profile.DefaultMaxNewTokens
	DefaultSuccessRecall = profile.DefaultSuccessRecall
)

// Options say how Run decodes and scores the probes.
type Options struct {
	Jobs          []Job
	Selector      *Selector
	MaxNewTokens  int            // 0: DefaultMaxNewTokens
	SuccessRecall float64        // 0: DefaultSuccessRecall
	Shard         profile.Shard  // which probes to run; the zero Shard runs all
	Checkpoint    *Checkpoint    // optional journal: its probes are skipped, new ones appended
	Progress      func(Progress) // called after every finished probe
	// Session says how the full and the compressed sessions run.
	Session model.SessionOptions
	// DecodeBatch is how many of a probe's method x budget sessions decode
	// together (model.DecodeBatch: a Batched model, bf16 compute, reads its
	// layer weights once per step for all of them); 0 means
	// model.BatchRows on a Batched model, else 1 (float32 compute steps
	// them in turn, so a batch would only hold more copies at once). The
	// results are the same bits either way.
	DecodeBatch int
}

// decodeBatch resolves o.DecodeBatch for m.
func (o Options) decodeBatch(m *model.Model) int {
	switch {
	case o.DecodeBatch > 0:
		return o.DecodeBatch
	case m.Batched():
		return model.BatchRows
	}
	return 1
}

func (o Options) withDefaults() Options {
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = DefaultMaxNewTokens
	}
	if o.SuccessRecall == 0 {
		o.SuccessRecall = DefaultSuccessRecall
	}

	return o
}

// Progress is reported after every finished probe.
type Progress struct {
	Done, Total, Resumed int
	Tokens               int // tokens fed through the model by this invocation (prefill + decode)
	Last                 Probe
	LastTokens           int
	LastTime             time.Duration
}

// decodeAll decodes greedily from every session, each holding the prompt
// minus its last token, feeding last first, all together (one StepBatch
// per step), and returns each one's generated ids (the stop token
// included when one ended it).
func decodeAll(ctx context.Context, ss []*model.Session, last, maxNew int, stop func(id int) bool) ([][]int, error) {
	if err := model.StepBatch(ss, slices.Repeat([]int{last}, len(ss)), nil); err != nil {
		return nil, err
	}
	steppers := make([]model.Stepper, len(ss))
	opts := make([]model.DecodeOptions, len(ss))
	for i, s := range ss {
		steppers[i] = s
		opts[i] = model.DecodeOptions{MaxNew: maxNew, Stop: func(_, id int) bool { return stop(id) }}
	}
	res, err := model.DecodeBatch(ctx, steppers, opts, model.StepSessions)
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(res))
	for i, r := range res {
		out[i] = r.IDs
	}
	return out, nil
}

// Run evaluates every probe of opts.Shard on m, in probe index order, and
// returns the finished probes (resumed ones included) in index order. Per
// probe: one prefill of the prompt minus its last token, the selection of
// every job from that prefill, and greedy decoding from a compressed copy
// of the cache (Full decodes on the full cache itself, last).
func Run(ctx context.Context, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options) ([]Probe, error) {
	opts = opts.withDefaults()
	if len(opts.Jobs) == 0 {
		return nil, fmt.Errorf("eval: no method x budget to run")
	}
	if opts.Selector == nil {
		return nil, fmt.Errorf("eval: no selector")
	}
	if err := opts.Selector.Check(opts.Jobs); err != nil {
		return nil, err
	}
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return nil, err
	}
	opts.Session = so
	if err := profile.CheckFit(probes, opts.MaxNewTokens, so.MaxContext); err != nil {
		return nil, err
	}
	var todo []needle.Probe
	for _, p := range probes {
		if opts.Shard.Has(p.Index) {
			todo = append(todo, p)
		}
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Index < todo[j].Index })
	done := map[int]Probe{}
	if opts.Checkpoint != nil {
		for i, r := range opts.Checkpoint.done {
			done[i] = r
		}
	}
	resumed := len(done)
	eos := map[int]bool{}
	for _, id := range m.Config().EOS {
		eos[id] = true
	}
	nl := needle.NewNewlineTokens(tok)
	stop := func(id int) bool { return eos[id] || nl.Is(id) }
	tokens := 0
	for _, p := range todo {
		if _, ok := done[p.Index]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		rec, fed, err := runProbe(ctx, m, tok, p, opts, stop, eos)
		tokens += fed
		if err != nil {
			return nil, fmt.Errorf("probe %d (length %d, depth %v): %w", p.Index, p.ContextLength, p.Depth, err)
		}
		if opts.Checkpoint != nil {
			if err := opts.Checkpoint.Append(rec); err != nil {
				return nil, err
			}
		}
		done[p.Index] = rec
		if opts.Progress != nil {
			opts.Progress(Progress{Done: len(done), Total: len(todo), Resumed: resumed, Tokens: tokens, Last: rec, LastTokens: fed, LastTime: time.Since(start)})
		}
	}
	out := make([]Probe, 0, len(todo))
	for _, p := range todo {
		out = append(out, done[p.Index])
	}
	return out, nil
}

// runProbe evaluates one probe; it returns the tokens it fed.
func runProbe(ctx context.Context, m *model.Model, tok needle.Tokenizer, p needle.Probe, opts Options, stop func(int) bool, eos map[int]bool) (Probe, int, error) {
	ids := p.IDs
	if len(ids) < 2 {
		return Probe{}, 0, fmt.Errorf("prompt of %d tokens", len(ids))
	}
	sel := &selectObserver{s: opts.Selector, jobs: opts.Jobs, needKeys: NeedsKeys(opts.Jobs)}
	full, err := m.NewSession(opts.Session)
	if err != nil {
		return Probe{}, 0, err
	}
	// Sessions go back to the model when done: the next ones start in
	// their memory instead of faulting in fresh pages.
	defer full.Release()
	if err := full.Prefill(ctx, ids[:len(ids)-1], sel); err != nil {
		return Probe{}, len(ids) - 1, err
	}
	if sel.err != nil {
		return Probe{}, len(ids) - 1, sel.err
	}
	fed := len(ids) - 1
	rec := Probe{Index: p.Index, ContextLength: p.ContextLength, Tokens: len(ids), Depth: p.Depth, NeedleID: p.NeedleID, Answer: p.Answer,
		Results: make([]Result, len(opts.Jobs))}
	prompt := len(ids) - 1
	layers := m.Config().NumLayers
	// The compressed jobs in their order, Full last: it decodes on the full
	// session itself, which the others are copied from.
	var order []int
	fullJob := -1
	for j, job := range opts.Jobs {
		if job.Method == Full {
			fullJob = j
			continue
		}
		order = append(order, j)
	}
	if fullJob >= 0 {
		order = append(order, fullJob)
	}
	name := func(j int) string {
		if j == fullJob {
			return "full"
		}
		return fmt.Sprintf("%s@%d", opts.Jobs[j].Method, opts.Jobs[j].Budget)
	}
	batch := opts.decodeBatch(m)
	for lo := 0; lo < len(order); lo += batch {
		group := order[lo:min(lo+batch, len(order))]
		ss := make([]*model.Session, len(group))
		release := func() {
			for k, s := range ss {
				if s != nil && group[k] != fullJob {
					s.Release()
				}
			}
		}
		for k, j := range group {
			if j == fullJob {
				ss[k] = full
				continue
			}
			if ss[k], err = full.Compressed(sel.keep[j]); err != nil {
				release()
				return Probe{}, fed, fmt.Errorf("%s: %w", name(j), err)
			}
		}
		outs, err := decodeAll(ctx, ss, ids[len(ids)-1], opts.MaxNewTokens, stop)
		release()
		if err != nil {
			what := name(group[0])
			for _, j := range group[1:] {
				what += ", " + name(j)
			}
			return Probe{}, fed, fmt.Errorf("%s: %w", what, err)
		}
		for k, j := range group {
			fed += len(outs[k])
			rec.Results[j] = score(opts.Jobs[j], outs[k], sel.keep[j], prompt, layers, p.Answer, tok, eos, opts.SuccessRecall)
		}
	}
	return rec, fed, nil
}

// score turns generated ids into a Result: the response is decoded without
// special tokens and trimmed, as profile does.
func score(job Job, out []int, keep [][][]int, prompt, layers int, answer string, tok needle.Tokenizer, eos map[int]bool, gate float64) Result {
	response := needle.Response(tok, out, func(id int) bool { return eos[id] })
	kept := 0
	for _, heads := range keep {
		kept += len(heads[0])
	}
	recall := needle.Rouge1Recall(response, answer)
	return Result{
		Method: job.Method, Budget: job.Budget,
		Kept: kept, KeptFraction: float64(kept) / float64(layers*prompt),
		Response: response, Recall: recall, Exact: needle.ExactMatch(response, answer), Success: recall > gate,
	}
}

// selectObserver makes every job's selection at the end of prefill, layer
// by layer, while the layer's cache is in view, so no copy of the whole
// cache is ever held.
type selectObserver struct {
	s        *Selector
	jobs     []Job
	needKeys bool
	keep     [][][][]int // [jobs][layers][kvHeads][]position
	err      error
}

func (o *selectObserver) WantProbs() bool              { return false }
func (o *selectObserver) QueryWindow() int             { return o.s.Params.Window }
func (o *selectObserver) DecodeStep(*model.DecodeView) {}

func (o *selectObserver) PrefillEnd(v *model.PrefillView) {
	if o.err != nil {
		return
	}
	if o.keep == nil {
		o.keep = make([][][][]int, len(o.jobs))
		for j := range o.keep {
			o.keep[j] = make([][][]int, o.s.Layers)
		}
	}
	c := v.Cache
	tokens, kvHeads, headDim := c.Len(), c.KVHeads(), c.HeadDim()
	layer := selection.Layer{Tokens: tokens, KVHeads: kvHeads, HeadDim: headDim}
	w := o.s.Params.Window
	if o.needKeys && tokens > w && len(v.Positions) == w {
		layer.Heads = len(v.Queries) / (w * headDim)
		layer.Queries = v.Queries
		layer.Keys = selection.KeysOf(kvHeads, c.Keys) // read in place, valid for this callback only
	}
	var scores *selection.Scores
	if layer.Keys != nil {
		var err error
		// Scored once per layer; every method and budget selects from them.
		if scores, err = selection.NewScores(layer, o.s.ScoredHeads(o.jobs, v.Layer), o.s.Params); err != nil {
			o.err = fmt.Errorf("layer %d: %w", v.Layer, err)
			return
		}
	}
	for j, job := range o.jobs {
		kept, err := o.s.Keep(job, v.Layer, layer, scores)
		if err != nil {
			o.err = fmt.Errorf("layer %d: %s@%d: %w", v.Layer, job.Method, job.Budget, err)
			return
		}
		o.keep[j][v.Layer] = kept
	}
}
