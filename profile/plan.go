package profile

import (
	"context"
	"fmt"
	"slices"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
)

// CheckGrid refuses, before any prompt is built, a grid whose context
// lengths do not leave maxNew decoded tokens inside a model context of the
// given length (a probe's prompt is about its context length).
func CheckGrid(lengths []int, maxNew, context int) error {
	over, longest := 0, 0
	for _, l := range lengths {
		if l+maxNew > context {
			over++
			longest = max(longest, l)
		}
	}
	if over > 0 {
		return fmt.Errorf("the model is too small for this grid: %d of %d context lengths (up to %d tokens) + %d new tokens exceed its context of %d tokens",
			over, len(lengths), longest, maxNew, context)
	}
	return nil
}

// Plan counts what Run will do with these probes and options: the probes
// of opts.Shard not yet in opts.Checkpoint (Sequences), with prefix reuse
// as Run applies it, in sessions run with opts.Session. weightBytes is the
// size of the checkpoint files.
func Plan(m *model.Model, probes []needle.Probe, opts Options, weightBytes int64) (*plan.Plan, error) {
	opts = opts.withDefaults()
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return nil, err
	}
	// Under --until-stable the order is SpreadOrder, where consecutive
	// probes rarely share a prefix: plan without reuse (an upper bound).
	reuse := opts.PrefixReuse && opts.UntilStable == 0
	seqs := Sequences(probes, opts)
	caches := 1
	if opts.DecodeBatch > 1 { // the prefix cache and a copy per probe decoding
		caches = 1 + min(opts.DecodeBatch, len(seqs))
	}
	return plan.Make(plan.ShapeOf(m.Config()), seqs, plan.Options{Reuse: reuse, Chunk: so.Chunk, KVBytes: so.CacheDType.Bytes(), WeightBytes: weightBytes, KVCaches: caches}), nil
}

// AutoDecodeBatch is the DecodeBatch of a run whose user did not choose
// one: on a Batched model (bf16 compute) model.BatchRows probes, but never
// more copies of the longest probe's KV cache than fit in half of
// freeBytes beside the prefix cache (freeBytes <= 0, unknown: 1); 1 on
// other models, whose steps gain nothing from a batch.
func AutoDecodeBatch(m *model.Model, probes []needle.Probe, opts Options, freeBytes int64) int {
	opts = opts.withDefaults()
	so, err := opts.Session.Resolve(m.Config())
	if err != nil || !m.Batched() || freeBytes <= 0 {
		return 1
	}
	longest := 0
	for _, p := range probes {
		longest = max(longest, len(p.IDs)+opts.MaxNewTokens)
	}
	cache := plan.ShapeOf(m.Config()).KVBytesPerPosition(so.CacheDType.Bytes()) * int64(max(longest, 1))
	return int(max(1, min(int64(model.BatchRows), freeBytes/2/cache-1)))
}

// Sequences are the prompts Run will feed: the probes of opts.Shard not
// yet in opts.Checkpoint, each prefilling its prompt minus the last token
// and decoding at most MaxNewTokens steps (exactly the answer's length
// when teacher-forced).
func Sequences(probes []needle.Probe, opts Options) []plan.Sequence {
	opts = opts.withDefaults()
	var done map[int]Record
	if opts.Checkpoint != nil {
		done = opts.Checkpoint.Done()
	}
	var seqs []plan.Sequence
	for _, p := range probes {
		if _, ok := done[p.Index]; ok || !opts.Shard.Has(p.Index) || len(p.IDs) < 2 {
			continue
		}
		steps := opts.MaxNewTokens
		if opts.TeacherForced {
			steps = p.SpanEnd - p.SpanStart
		}
		seqs = append(seqs, plan.Sequence{Prefill: prefillIDs(p), Steps: steps})
	}
	return seqs
}

// MeasureRates measures what a run of these probes costs on m: the
// model-level rates (plan.Calibrate, with the scorer's work), scaled to up
// to three of the shortest probes run end to end (CalibrateRates).
// progress, when not nil, hears of each probe CalibrateRates scores.
func MeasureRates(ctx context.Context, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options, progress func(Progress)) (plan.Rates, error) {
	cfg := m.Config()
	rates, err := plan.CalibrateBatch(m, opts.Session, func() model.Observer { return CostObserver(cfg.NumLayers, cfg.NumHeads) }, opts.DecodeBatch)
	if err != nil {
		return rates, err
	}
	// The end-to-end probes decode alone, as the single-step rates price
	// them; the run's batches are priced after the scaling.
	one := opts
	one.DecodeBatch = 0
	rates, err = CalibrateRates(ctx, m, tok, probes, one, rates, progress)
	return rates.InBatches(MaxBatchPrefill), err
}

// CostObserver is an observer that does a profile decode step's scoring
// work (attention rows asked for, each reduced to its span mass and top-1
// position), for plan.Calibrate to time.
func CostObserver(layers, heads int) model.Observer {
	acc, err := NewAccumulator(layers, heads, []int{0}, 0, 1, false)
	if err != nil {
		return nil
	}
	return NewObserver(acc)
}

// CalibrateRates runs up to three of the shortest probes the run has
// left (of opts.Shard, not yet in opts.Checkpoint) end to end (with the
// run's prefix reuse: the run's own decode loop, scorer and ROUGE) and
// scales rates so that plan.Project gives those probes the time they took
// on a quiet machine (their CPU time over the threads, or their wall time
// if shorter). That folds in what the model-level rates leave out, the
// per-step and per-probe work around the forward pass, which dominates a
// small model. With a checkpoint (a run, not --dry-run) their records are
// appended to it, so the run resumes them instead of scoring them again:
// a record's bytes do not depend on the session that scored it (prefix
// reuse is exact), and the measurement then costs the run nothing.
// Without one only the probes the rates project within plan.DryRunBudget
// run (none: the rates come back unscaled, saying so).
// progress, when not nil, hears of each probe as Run's would (a --report
// line). The rates come back unchanged when no probe can run.
func CalibrateRates(ctx context.Context, m *model.Model, tok needle.Tokenizer, probes []needle.Probe, opts Options, rates plan.Rates, progress func(Progress)) (plan.Rates, error) {
	opts = opts.withDefaults()
	var done map[int]Record
	if opts.Checkpoint != nil {
		done = opts.Checkpoint.Done()
	}
	var short []needle.Probe
	for _, p := range probes {
		if _, ok := done[p.Index]; !ok && opts.Shard.Has(p.Index) && len(p.IDs) >= 2 {
			short = append(short, p)
		}
	}
	slices.SortStableFunc(short, func(a, b needle.Probe) int { return len(a.IDs) - len(b.IDs) })
	short = short[:min(3, len(short))]
	if len(short) == 0 {
		return rates, nil
	}
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return rates, err
	}
	if opts.Checkpoint == nil { // thrown away: only what fits a dry run's budget
		n, first := plan.Affordable(plan.ShapeOf(m.Config()), Sequences(short, opts), plan.Options{Chunk: so.Chunk, Reuse: opts.PrefixReuse}, rates, plan.DryRunBudget)
		if n == 0 {
			return rates.Unscaled(first), nil
		}
		short = short[:n]
	}
	// With the run's prefix reuse: one session for the three, as the run
	// keeps one. A fresh session's first prefill is slower (its KV cache
	// and buffers are first touched: 4.1-4.3 s against 3.6-3.8 s for 1000
	// tokens of a 1.1B model), which a factor made of three fresh
	// sessions would lay on every probe of a run that has only one.
	ckpt := opts.Checkpoint
	opts.Checkpoint, opts.UntilStable = nil, 0
	var res *Result
	took, err := plan.QuietTime(kernels.Threads(), func() (err error) {
		res, err = Run(ctx, m, tok, short, opts, progress)
		return err
	})
	if err != nil {
		return rates, err
	}
	if ckpt != nil {
		for _, r := range res.Records {
			if err := ckpt.Append(r); err != nil {
				return rates, err
			}
		}
	}
	// Project exactly the steps the probes took (greedy decoding may stop
	// before MaxNewTokens).
	var seqs []plan.Sequence
	steps := res.Tokens + res.Reused // fed, and kept from the prefix cache
	for _, p := range short {
		steps -= len(p.IDs) - 1
	}
	for i, p := range short {
		n := steps / len(short)
		if i < steps%len(short) {
			n++
		}
		seqs = append(seqs, plan.Sequence{Prefill: prefillIDs(p), Steps: n})
	}
	ran := plan.Make(plan.ShapeOf(m.Config()), seqs, plan.Options{Chunk: so.Chunk, Reuse: res.Reused > 0})
	what := fmt.Sprintf("%d probes run end to end", len(short))
	if ckpt != nil {
		what += " (their results are the run's first)"
	}
	rates = rates.ScaledTo(ran, took, what)
	if !opts.TeacherForced { // teacher forcing decodes exactly the answers
		rates = rates.WithStepShare(steps, len(short)*opts.MaxNewTokens)
	}
	return rates, nil
}
