package calibrate

import (
	"context"
	"fmt"
	"slices"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/plan"
)

// NeedleLengthsThatFit returns the context lengths of the built-in needle
// probes that can fit the model's context with maxNew generated tokens:
// a probe's haystack and needle are cut to its length less buffer, so one
// with length - buffer + maxNew beyond the context never fits, whatever
// its template. Checked before any prompt is built (a long grid takes a
// while to build); the probes built are checked again by their real
// length.
func NeedleLengthsThatFit(lengths []int, buffer, maxNew, context int) (fit, over []int) {
	for _, l := range lengths {
		if l-buffer+maxNew > context {
			over = append(over, l)
		} else {
			fit = append(fit, l)
		}
	}
	return fit, over
}

// Sequences are the prompts Run will feed: every prompt of datasets not in
// opts.Journal, cut as RunPrompt cuts it to the context less its MaxNew,
// then MaxNew-1 decode steps (the first token comes from the prefill).
func Sequences(m *model.Model, datasets []Dataset, opts Options) ([]plan.Sequence, error) {
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return nil, err
	}
	var seqs []plan.Sequence
	for _, d := range datasets {
		for p, ids := range d.Prompts {
			if _, ok := opts.Journal.done(d.Name, p); ok {
				continue
			}
			seqs = append(seqs, plan.Sequence{Prefill: truncate(ids, so.MaxContext-d.MaxNew), Steps: max(d.MaxNew-1, 0)})
		}
	}
	return seqs, nil
}

// Plan counts what Run will do: the prompts not yet journaled, each in its
// own session and KV cache, opts.Workers of them at once (the memory of as
// many of the longest caches). weightBytes is the size of the checkpoint
// files.
func Plan(m *model.Model, datasets []Dataset, opts Options, weightBytes int64) (*plan.Plan, error) {
	seqs, err := Sequences(m, datasets, opts)
	if err != nil {
		return nil, err
	}
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return nil, err
	}
	workers := max(1, min(promptsAtOnce(opts), len(seqs)))
	return plan.Make(plan.ShapeOf(m.Config()), seqs, plan.Options{Chunk: so.Chunk, KVBytes: so.CacheDType.Bytes(), WeightBytes: weightBytes, KVCaches: workers}), nil
}

// promptsAtOnce is the number of prompts Run runs at once.
func promptsAtOnce(opts Options) int {
	if opts.Workers > 0 {
		return opts.Workers
	}
	return runtimeThreads()
}

// MeasureRates measures what Run costs on m: the model-level rates
// (plan.Calibrate) scaled to the shortest prompts Run has left (not yet in
// opts.Journal) run end to end, as many at once as Run runs (a multiple of
// opts.Workers, at least 3 prompts), so that the per-step selection work
// and the prompt-level parallelism are in the figure. ranking is the
// profile's head ranking, as for Run. With a journal (a run, not
// --dry-run) their results are appended to it and Run resumes them, so
// the measurement costs the run nothing: a prompt's errors do not depend
// on which run measured them. Without one only the prompts the rates
// project within plan.DryRunBudget run (none: the rates come back
// unscaled, saying so).
func MeasureRates(ctx context.Context, m *model.Model, datasets []Dataset, ranking [][]int, opts Options) (plan.Rates, error) {
	rates, err := plan.Calibrate(m, opts.Session, nil)
	if err != nil {
		return rates, err
	}
	return scaleRates(ctx, m, datasets, ranking, opts, rates)
}

// scaleRates is MeasureRates after plan.Calibrate: rates scaled to the
// prompts it runs end to end.
func scaleRates(ctx context.Context, m *model.Model, datasets []Dataset, ranking [][]int, opts Options, rates plan.Rates) (plan.Rates, error) {
	w := promptsAtOnce(opts)
	type short struct {
		dataset string
		prompt  int
		ids     []int
		maxNew  int
	}
	var all []short
	for _, d := range datasets {
		for p, ids := range d.Prompts {
			if _, done := opts.Journal.done(d.Name, p); !done {
				all = append(all, short{d.Name, p, ids, d.MaxNew})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b short) int { return len(a.ids) - len(b.ids) })
	n := min(len(all), w*((3+w-1)/w))
	if n == 0 {
		return rates, nil
	}
	sample := []Dataset{}
	for i, s := range all[:n] {
		sample = append(sample, Dataset{Name: fmt.Sprint(i), Prompts: [][]int{s.ids}, MaxNew: s.maxNew})
	}
	so, err := opts.Session.Resolve(m.Config())
	if err != nil {
		return rates, err
	}
	if opts.Journal == nil { // thrown away: only what fits a dry run's budget
		seqs, err := Sequences(m, sample, opts)
		if err != nil {
			return rates, err
		}
		if len(seqs) == n {
			fit, first := plan.Affordable(plan.ShapeOf(m.Config()), seqs, plan.Options{Chunk: so.Chunk}, rates, plan.DryRunBudget)
			if fit == 0 {
				return rates.Unscaled(first), nil
			}
			n, sample = fit, sample[:fit]
		}
	}
	journal := opts.Journal
	opts.Journal, opts.Progress, opts.Workers = nil, nil, w
	var results [][]PromptResult
	heads := Heads(ranking, opts.TopK)
	took, err := plan.QuietTime(kernels.Threads(), func() (err error) {
		results, err = runPrompts(ctx, m, sample, heads, opts)
		return err
	})
	if err != nil {
		return rates, err
	}
	what := fmt.Sprintf("%d prompts run end to end, %d at once", n, min(w, n))
	if journal != nil {
		for i, s := range all[:n] {
			if err := journal.append(s.dataset, s.prompt, results[i][0]); err != nil {
				return rates, err
			}
		}
		what += " (their results are the run's first)"
	}
	// Project the steps the prompts took (an EOS ends one early).
	seqs, err := Sequences(m, sample, opts)
	if err != nil {
		return rates, err
	}
	taken, limit := 0, 0
	for i := range seqs {
		limit += seqs[i].Steps
		seqs[i].Steps = results[i][0].Steps
		taken += seqs[i].Steps
	}
	ran := plan.Make(plan.ShapeOf(m.Config()), seqs, plan.Options{Chunk: so.Chunk})
	return rates.ScaledTo(ran, took, what).WithStepShare(taken, limit), nil
}
