package eval

import (
	"context"
	"fmt"
	"slices"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
)

// Sequences are the prompts Run will feed: the probes of opts.Shard not
// yet in opts.Checkpoint, each prefilling its prompt minus the last token
// once and decoding at most MaxNewTokens steps once per job.
func Sequences(probes []needle.Probe, opts Options) []plan.Sequence {
	opts = opts.withDefaults()
	var seqs []plan.Sequence
	for _, p := range probes {
		if !opts.Shard.Has(p.Index) || len(p.IDs) < 2 {
			continue
		}
		if opts.Checkpoint != nil {
			if _, ok := opts.Checkpoint.done[p.Index]; ok {
				continue
			}
		}
		seqs = append(seqs, plan.Sequence{Prefill: p.IDs[:len(p.IDs)-1], Steps: opts.MaxNewTokens, Decodes: len(opts.Jobs)})
	}
	return seqs
}

// Plan is the work of a run, known before any compute: what --dry-run and
// the start of a run print.
type Plan struct {
	Probes        int // probes to run (this shard)
	Methods       int
	Budgets       int
	Decodes       int // probes x method x budget runs (full once per probe)
	PrefillTokens int // tokens prefilled: one prefill per probe
	MaxDecodeTok  int // decode steps at most: decodes x max new tokens
	// Cost is what the probes not yet in the checkpoint cost: one full
	// cache per probe and, while a compressed method decodes, its copy of
	// the kept positions (at most as large: counted as two full caches).
	// Decode is priced as if every method attended to the whole prompt,
	// an upper bound.
	Cost *plan.Plan
}

// NewPlan counts the work of methods x budgets over the probes of
// opts.Shard, and the cost on m of those not in opts.Checkpoint
// (opts.Jobs must be Jobs(methods, budgets)). weightBytes is the size of
// the checkpoint files.
func NewPlan(m *model.Model, probes []needle.Probe, methods []Method, budgets []int, opts Options, weightBytes int64) (Plan, error) {
	opts = opts.withDefaults()
	jobs := Jobs(methods, budgets)
	p := Plan{Methods: len(methods), Budgets: len(budgets)}
	for _, pr := range probes {
		if opts.Shard.Has(pr.Index) {
			p.Probes++
			p.PrefillTokens += max(len(pr.IDs)-1, 0)
		}
	}
	p.Decodes = p.Probes * len(jobs)
	p.MaxDecodeTok = p.Decodes * opts.MaxNewTokens
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return p, err
	}
	// The full cache and, at most, a batch of compressed copies (each at
	// most the full size: an upper bound, as a budget keeps less).
	compressed := 0
	for _, j := range jobs {
		if j.Method != Full {
			compressed++
		}
	}
	caches := 1 + min(compressed, opts.decodeBatch(m))
	opts.Jobs = jobs
	p.Cost = plan.Make(plan.ShapeOf(m.Config()), Sequences(probes, opts), plan.Options{Chunk: so.Chunk, KVBytes: so.CacheDType.Bytes(), WeightBytes: weightBytes, KVCaches: caches})
	return p, nil
}

// Format renders the plan, its cost and (when r is given) its projected
// time as the lines eval prints before it starts; what names the probes
// Cost counts.
func (p Plan) Format(what string, r *plan.Rates) string {
	s := fmt.Sprintf("eval plan: %d probes x (%d methods, %d budgets) = %d decodes; %d prefill tokens (one prefill per probe), at most %d decode steps\n",
		p.Probes, p.Methods, p.Budgets, p.Decodes, p.PrefillTokens, p.MaxDecodeTok)
	if p.Cost != nil {
		s += p.Cost.Format(what, r)
	}
	return s
}

// MeasureRates measures what Run costs on m: the model-level rates
// (plan.CalibrateBatch, decode priced in the run's batches) scaled to up
// to two of the shortest probes the run has left (of opts.Shard, not yet
// in opts.Checkpoint) run end to end with
// every job (the selection, the compressed copies, the decodes and the
// scoring are then in the figure). With a checkpoint (a run, not
// --dry-run) their records are appended to it and the run resumes them,
// so the measurement costs the run nothing: a probe's record does not
// depend on when it was scored. Without one only the probes the rates
// project within plan.DryRunBudget run (none: the rates come back
// unscaled, saying so).
func MeasureRates(ctx context.Context, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options) (plan.Rates, error) {
	opts = opts.withDefaults()
	// A probe's decodes run in batches (Run), the end-to-end probes' too,
	// so the batch's step is priced before the scaling.
	rates, err := plan.CalibrateBatch(m, opts.Session, nil, min(opts.decodeBatch(m), len(opts.Jobs)))
	if err != nil {
		return rates, err
	}
	return scaleRates(ctx, m, tok, probes, opts, rates.InBatches(0))
}

// scaleRates is MeasureRates after plan.Calibrate: rates scaled to the
// probes it runs end to end.
func scaleRates(ctx context.Context, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options, rates plan.Rates) (plan.Rates, error) {
	ckpt := opts.Checkpoint
	var short []needle.Probe
	for _, p := range probes {
		if opts.Shard.Has(p.Index) && (ckpt == nil || !ckpt.has(p.Index)) {
			short = append(short, p)
		}
	}
	slices.SortStableFunc(short, func(a, b needle.Probe) int { return len(a.IDs) - len(b.IDs) })
	short = short[:min(2, len(short))]
	if len(short) == 0 {
		return rates, nil
	}
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return rates, err
	}
	// Thrown away: only what fits a dry run's budget. (Sequences leaves
	// out a probe of fewer than two ids; the budget then does not apply.)
	if seqs := Sequences(short, opts); ckpt == nil && len(seqs) == len(short) {
		n, first := plan.Affordable(plan.ShapeOf(m.Config()), seqs, plan.Options{Chunk: so.Chunk}, rates, plan.DryRunBudget)
		if n == 0 {
			return rates.Unscaled(first), nil
		}
		short = short[:n]
	}
	opts.Checkpoint = nil
	tokens := 0
	opts.Progress = func(p Progress) { tokens = p.Tokens }
	var scored []Probe
	took, err := plan.QuietTime(kernels.Threads(), func() (err error) {
		scored, err = Run(ctx, m, tok, short, opts)
		return err
	})
	if err != nil {
		return rates, err
	}
	what := fmt.Sprintf("%d probes run end to end, %d method-budget decodes each", len(short), len(opts.Jobs))
	if ckpt != nil {
		for _, r := range scored {
			if err := ckpt.Append(r); err != nil {
				return rates, err
			}
		}
		what += " (their results are the run's first)"
	}
	// Project the steps the decodes took (a newline ends one early).
	seqs := Sequences(short, opts)
	steps := tokens
	for _, s := range seqs {
		steps -= len(s.Prefill)
	}
	decodes := len(seqs) * max(len(opts.Jobs), 1)
	for i := range seqs {
		seqs[i].Steps, seqs[i].Decodes = steps/decodes, len(opts.Jobs)
	}
	ran := plan.Make(plan.ShapeOf(m.Config()), seqs, plan.Options{Chunk: so.Chunk})
	return rates.ScaledTo(ran, took, what).
		WithStepShare(steps, decodes*opts.MaxNewTokens), nil
}
