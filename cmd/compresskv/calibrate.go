package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// calibrateOptions are the flags of `compresskv calibrate`.
type calibrateOptions struct {
	Model, Tokenizer, Profile, Output string

	Data       []string
	Template   string
	MaxNew     int
	MinSuccess int // refuse a profile resting on fewer successful probes

	Needles bool       // include the built-in needle probes
	Probes  probeFlags // the built-in probes: --needle-lengths, --needle-depths, ...

	Budget        int
	TopK          int
	Window        int
	Kernel        int
	Pooling       string
	Averages      []int
	Floor         int
	CeilingFactor int

	ExportReference string
	Check           string
	Tolerance       float64
	BudgetTolerance int
	HeadTolerance   int
	Resume          bool
	Threads         int // CPU threads, as everywhere
	ParallelPrompts int // prompts run at once; 0: from free memory and the KV cache size
	DryRun          bool
	Runtime         runtimeFlags

	progress bool            // draw a progress bar on stderr
	ctx      context.Context // nil: cancelled on SIGINT / SIGTERM
}

// newCalibrateCommand builds the calibrate command.
func newCalibrateCommand(s *streams) *cobra.Command {
	opts := &calibrateOptions{}
	cmd := &cobra.Command{
		Use:   "calibrate",
		Short: "Measure per-layer eviction errors and write error-aware layer budgets into a profile",
		Long: `calibrate completes a profile with per-layer KV-cache budgets (CompressKV's
error-aware allocation, docs/method.md sections 4-6). Each calibration prompt
is decoded greedily with the full cache; at every step each layer's
attention is recomputed over only the --budget tokens the CompressKV
selection keeps (the profile's top --top-k SRH heads vote, window
--window, --pooling with --kernel) plus the generated tokens, and the
relative Frobenius error of the o_proj output is summed per layer. Errors
are L1-normalised per dataset, averaged across datasets and normalised
again (the layer scores); budgets for every average in --avgs follow from
them with a floor of --floor and a ceiling of --ceiling-factor x average.

Calibration data: built-in short needle probes (seeds unlike the
profile's; --needles=false to leave them out) plus any number of --data
files, JSON Lines with {"prompt": "..."}, {"ids": [...]} or LongBench-style
{"context": ..., "input": ...} lines formatted with --template. Each file
is one dataset named after the file.

The profile is rewritten in place unless -o is given. Every finished
prompt is appended to <output>.calibrate.jsonl; an interrupted run resumes
from it (--resume, on by default) with an identical result.

--check EXISTING.json recomputes the calibration and compares it with
EXISTING instead of writing anything: beyond the tolerances it prints
which layers drifted and exits with status 3.`,
		Example: `  # Calibrate a profile of the built-in synthetic model in place
  compresskv calibrate --profile synth.json

  # A checkpoint, two LongBench subsets, reference files exported
  compresskv calibrate --model ~/models/Llama-3.1-8B-Instruct --profile llama.json \
      --data hotpotqa.jsonl --data qasper.jsonl --max-new 32 --export-reference llama-ref/

  # CI: recompute and fail (exit 3) when a committed profile drifted
  compresskv calibrate --profile synth.json --check synth.json --tolerance 1e-6`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEmbeddedDefaults(cmd.Flags(), "calibrate.yaml"); err != nil {
				return err
			}
			opts.progress = isTerminal(s.err)
			return runCalibrate(opts, s)
		},
	}
	f := cmd.Flags()
	addModelFlags(f, &opts.Model, &opts.Tokenizer)
	addRuntimeFlags(f, &opts.Runtime)
	f.StringVar(&opts.Profile, "profile", "", "profile to calibrate (written by compresskv profile)")
	f.StringVarP(&opts.Output, "output", "o", "", "calibrated profile to write (default: overwrite --profile)")
	f.StringArrayVar(&opts.Data, "data", nil, "calibration dataset, JSON Lines (repeatable)")
	f.StringVar(&opts.Template, "template", "", "prompt template for --data lines without \"prompt\"; {field} takes the line's field")
	f.IntVar(&opts.MinSuccess, "min-success", schema.DefaultMinSuccess, "refuse a profile whose ranking rests on fewer successful probes (0 accepts any)")
	f.IntVar(&opts.MaxNew, "max-new", 0, "tokens generated per prompt (the first comes from prefill; errors are measured on the rest)")
	f.BoolVar(&opts.Needles, "needles", true, "include the built-in needle probes as a dataset")
	addProbeFlags(f, &opts.Probes, calibrationFlags)
	f.IntVar(&opts.Budget, "budget", 0, "calibration budget: tokens per layer the selection keeps")
	f.IntVar(&opts.TopK, "top-k", 0, "SRH heads per layer that select tokens")
	f.IntVar(&opts.Window, "window", 0, "observation window w (always kept; its queries vote)")
	f.IntVar(&opts.Kernel, "kernel", 0, "pooling kernel (odd)")
	f.StringVar(&opts.Pooling, "pooling", "", "pooling: avg or max")
	f.IntSliceVar(&opts.Averages, "avgs", nil, "average `budgets` to allocate")
	f.IntVar(&opts.Floor, "floor", 0, "per-layer minimum budget m")
	f.IntVar(&opts.CeilingFactor, "ceiling-factor", 0, "per-layer maximum budget M = factor x average")
	f.StringVar(&opts.ExportReference, "export-reference", "", "also write the reference implementation's head_idx.json and layer_score.jsonl into this folder")
	f.StringVar(&opts.Check, "check", "", "compare the recomputed calibration with this profile instead of writing; exit 3 on drift")
	f.Float64Var(&opts.Tolerance, "tolerance", 1e-6, "--check: largest allowed layer-score L1 distance")
	f.IntVar(&opts.BudgetTolerance, "budget-tolerance", 0, "--check: largest allowed per-layer budget change in tokens")
	f.IntVar(&opts.HeadTolerance, "head-tolerance", 0, "--check: top-k heads per layer allowed to differ")
	f.BoolVar(&opts.Resume, "resume", true, "resume from <output>.calibrate.jsonl when it exists")
	f.IntVar(&opts.Threads, "threads", 0, "CPU threads (default: all)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (prompts, tokens, FLOPs, memory, projected time) and exit")
	f.IntVar(&opts.ParallelPrompts, "parallel-prompts", 0, "prompts run at once, each with its own KV cache (default: one per thread, as many as fit in half the free memory); the result does not depend on it")
	describeEmbeddedDefaults(f, []defaultsSource{{"calibrate.yaml", ""}})
	return cmd
}

// options turns the flags into calibration settings.
func (o *calibrateOptions) options() (calibrate.Options, error) {
	pooling, err := selection.ParsePooling(o.Pooling)
	if err != nil {
		return calibrate.Options{}, usagef("--pooling: %v", err)
	}
	c := calibrate.Options{
		Budget: o.Budget, TopK: o.TopK,
		Selection: selection.Params{Window: o.Window, Kernel: o.Kernel, Pooling: pooling},
		Floor:     o.Floor, CeilingFactor: o.CeilingFactor,
		Averages: slices.Clone(o.Averages), Workers: o.ParallelPrompts,
	}
	slices.Sort(c.Averages)
	c.Averages = slices.Compact(c.Averages)
	if err := c.Validate(); err != nil {
		return c, usagef("%v", err)
	}
	if o.MaxNew < 2 {
		return c, usagef("--max-new %d: want at least 2 (the first token comes from prefill)", o.MaxNew)
	}
	return c, nil
}

func runCalibrate(opts *calibrateOptions, s *streams) error {
	if opts.Profile == "" {
		return usagef("--profile is required (make one with `compresskv profile`)")
	}
	if err := checkThreads(opts.Threads); err != nil {
		return err
	}
	if opts.ParallelPrompts < 0 || opts.ParallelPrompts > maxThreads {
		return usagef("--parallel-prompts %d: want 0 (automatic) or 1..%d", opts.ParallelPrompts, maxThreads)
	}
	defer limitThreads(opts.Threads)()
	calOpts, err := opts.options()
	if err != nil {
		return err
	}
	compat, err := needle.ParseCompat(opts.Probes.Compat)
	if err != nil {
		return usagef("--compat: %v", err)
	}
	var needles *probeInputs
	if opts.Needles {
		opts.Probes.Spec.Buffer = needleBuffer(opts.Probes.Spec.Lengths)
		if needles, err = opts.Probes.resolve(); err != nil {
			return err
		}
	}

	output := opts.Output
	if output == "" {
		output = opts.Profile
	}
	p, err := schema.ReadFile(opts.Profile)
	if err != nil {
		return err
	}
	if err := schema.CheckEvidence(p, opts.MinSuccess); err != nil {
		return fmt.Errorf("%s: %v; calibrating on that ranking would measure arbitrary heads (--min-success 0 calibrates anyway)", opts.Profile, err)
	}
	var existing *schema.Profile
	if opts.Check != "" {
		if existing, err = schema.ReadFile(opts.Check); err != nil {
			return err
		}
	}

	lm, err := opts.Runtime.load(opts.Model, opts.Tokenizer, s.err)
	if err != nil {
		return err
	}
	defer lm.close()
	m := lm.model
	calOpts.Session = lm.session
	if err := sameModel(p, m, opts.Profile); err != nil {
		return err
	}
	datasets, err := calibrationData(opts, compat, needles, lm, m, s.err)
	if err != nil {
		return err
	}
	if calOpts.Workers == 0 {
		cache := calibrate.KVCacheBytes(m.Config(), lm.session.CacheDType, datasets)
		calOpts.Workers = calibrate.ParallelPrompts(runtime.GOMAXPROCS(0), cache, memAvailable())
		if calOpts.Workers < runtime.GOMAXPROCS(0) {
			fmt.Fprintf(s.err, "compresskv: %d prompt(s) at a time: each needs a %.1f GB KV cache (--parallel-prompts to choose)\n", calOpts.Workers, float64(cache)/1e9)
		}
	}

	ctx, stop := interruptible(opts.ctx)
	defer stop()
	if opts.DryRun {
		return printCalibratePlan(ctx, s.out, lm, datasets, p.Heads.Ranking, calOpts, "prompts")
	}
	var journal *calibrate.Journal
	journalPath := calibrate.JournalPath(output)
	if existing == nil {
		run := calibrate.ForwardKey(p.Model.Fingerprint, lm.session, m.Compute())
		key := calibrate.JournalKey(run, datasets, p.Heads.Ranking, calOpts)
		if journal, err = calibrate.OpenJournal(journalPath, key, opts.Resume); err != nil {
			return err
		}
		defer journal.Close()
		calOpts.Journal = journal
		if n := journal.Done(datasets); n > 0 {
			total := 0
			for _, d := range datasets {
				total += len(d.Prompts)
			}
			fmt.Fprintf(s.err, "resuming: %d of %d prompts done (%s)\n", n, total, journalPath)
		}
	}
	// An interruption during the plan's measurement (which journals the
	// prompts it runs) is reported as one during the run.
	var c *schema.Calibration
	var clock plan.Clock
	err = printCalibratePlan(ctx, s.err, lm, datasets, p.Heads.Ranking, calOpts, "prompts to run")
	if err == nil {
		bar := newProgressBar(s.err, opts.progress, "calibration prompts")
		resumed := -1 // calibrate reports the journal's prompts before any work
		calOpts.Progress = func(done, total, tokens int) {
			if resumed < 0 {
				resumed = done
			}
			bar.update(done, total, resumed, tokens)
		}
		clock = plan.StartClock()
		c, err = calibrate.Run(ctx, m, datasets, p.Heads.Ranking, calOpts)
		bar.finish()
	}
	if err == nil {
		// Beside the plan's projection: what the prompts took.
		fmt.Fprintf(s.err, "run: prompts %s\n", clock.Report(kernels.Threads()))
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && journal != nil {
			return fmt.Errorf("interrupted: finished prompts are saved in %s; run the same command again to resume", journalPath)
		}
		if weightsChanged(err) && journal != nil {
			return fmt.Errorf("%w: finished prompts are saved in %s, and the same command resumes from them", err, journalPath)
		}
		return err
	}
	c.KVCache, c.Rope, c.Compat = lm.session.CacheDType.String(), lm.session.Rope.String(), compat.String()
	c.Compute = lm.computeName()
	p.Calibration = c
	if err := schema.Validate(p); err != nil {
		return fmt.Errorf("calibrated profile does not validate (a bug): %w", err)
	}

	if existing != nil {
		cmp := calibrate.Compare(existing, p, calOpts.TopK)
		if err := printComparison(s.out, cmp, opts.Check, "recomputed"); err != nil {
			return err
		}
		tol := calibrate.Tolerance{ScoreL1: opts.Tolerance, BudgetChange: opts.BudgetTolerance, HeadMisses: opts.HeadTolerance}
		if drift := cmp.Drift(tol); len(drift) > 0 {
			return fmt.Errorf("%w: %s differs from the recomputed calibration:\n  %s", errDrift, opts.Check, strings.Join(drift, "\n  "))
		}
		_, err := fmt.Fprintf(s.out, "%s matches the recomputed calibration within tolerance\n", opts.Check)
		return err
	}

	data, err := schema.Marshal(p)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(output, data, 0o644); err != nil {
		return err
	}
	if opts.ExportReference != "" {
		if err := schema.ExportReference(p, opts.ExportReference); err != nil {
			return err
		}
	}
	if err := journal.Remove(); err != nil {
		return err
	}
	return printCalibration(s.out, output, c)
}

// printCalibratePlan prints what the run will cost, with the wall time
// projected from a short calibration run of the model itself (none when
// every prompt is journaled already).
func printCalibratePlan(ctx context.Context, w io.Writer, lm *loadedModel, datasets []calibrate.Dataset, ranking [][]int, calOpts calibrate.Options, what string) error {
	p, err := calibrate.Plan(lm.model, datasets, calOpts, weightFileBytes(lm.dir))
	if err != nil {
		return err
	}
	var rates *plan.Rates
	if p.Prompts > 0 {
		r, err := calibrate.MeasureRates(ctx, lm.model, datasets, ranking, calOpts)
		if err != nil {
			return err
		}
		rates = &r
		// The prompts the measurement ran are in the journal now: the
		// plan counts what is left.
		if p, err = calibrate.Plan(lm.model, datasets, calOpts, weightFileBytes(lm.dir)); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, p.Format(what, rates))
	return err
}

// sameModel checks that the profile was made for m.
func sameModel(p *schema.Profile, m *model.Model, name string) error {
	got := profile.ModelInfo(m)
	want := p.Model
	if got.Layers != want.Layers || got.Heads != want.Heads || got.KVHeads != want.KVHeads || got.HeadDim != want.HeadDim {
		return fmt.Errorf("%s: profile is for %d layers x %d heads (%d KV, head_dim %d), the model has %d x %d (%d KV, head_dim %d)",
			name, want.Layers, want.Heads, want.KVHeads, want.HeadDim, got.Layers, got.Heads, got.KVHeads, got.HeadDim)
	}
	if want.Fingerprint != "" && got.Fingerprint != want.Fingerprint {
		return fmt.Errorf("%s: profile was made for the model with fingerprint %s, this one is %s", name, want.Fingerprint, got.Fingerprint)
	}
	return nil
}

// calibrationData builds the datasets: the built-in needle probes (when
// needles is not nil), then every --data file in order. Needle probes that
// would not fit the model's context with their answer are left out, with a
// note on warn: cutting them would cut the needle.
func calibrationData(opts *calibrateOptions, compat needle.Compat, needles *probeInputs, lm *loadedModel, m *model.Model, warn io.Writer) ([]calibrate.Dataset, error) {
	var datasets []calibrate.Dataset
	// Under --compat reference, text prompts longer than the reference's
	// maximum for the model family keep their first and last halves, cut
	// on the text as the reference does (before the model-context rule).
	truncateAt := 0
	if compat == needle.CompatReference {
		var err error
		if truncateAt, err = calibrate.ReferenceMaxLength(m.Config().Architecture); err != nil {
			return nil, usagef("--compat reference: %v", err)
		}
	}
	if needles != nil {
		tok, err := lm.tokenizer()
		if err != nil {
			return nil, fmt.Errorf("built-in needle probes need a tokenizer (or pass --needles=false): %w", err)
		}
		d := calibrate.Dataset{Name: "needles", MaxNew: opts.MaxNew}
		// Said before building the prompts: lengths that cannot fit are
		// not built at all.
		fit, over := calibrate.NeedleLengthsThatFit(needles.grid.ContextLengths, needles.grid.Buffer, opts.MaxNew, lm.session.MaxContext)
		if len(fit) == 0 {
			return nil, usagef("the model is too small for the built-in needle probes: their %d context lengths (up to %d tokens) less the buffer of %d + --max-new %d exceed its context of %d tokens; set --needle-lengths (or --needles=false)",
				len(over), slices.Max(over), needles.grid.Buffer, opts.MaxNew, lm.session.MaxContext)
		}
		needles.grid.ContextLengths = fit
		probes, _, err := needles.buildSome(tok)
		needles.printWarnings(warn)
		if err != nil {
			return nil, fmt.Errorf("built-in needle probes: %w", err)
		}
		// Lengths left out unbuilt count as their probes.
		tooLong, longest := len(over)*len(needles.grid.Depths)*len(needles.needles), slices.Max(append([]int{0}, over...))
		for _, pr := range probes {
			if len(pr.IDs)+opts.MaxNew > lm.session.MaxContext {
				tooLong, longest = tooLong+1, max(longest, len(pr.IDs))
				continue
			}
			d.Prompts = append(d.Prompts, pr.IDs)
		}
		if len(d.Prompts) == 0 {
			return nil, usagef("built-in needle probes: none fits the model's context of %d tokens with --max-new %d (shortest needs %d); set --needle-lengths", lm.session.MaxContext, opts.MaxNew, len(probes[0].IDs)+opts.MaxNew)
		}
		if tooLong > 0 {
			fmt.Fprintf(warn, "compresskv: note: %d of %d needle probes (up to %d tokens) do not fit the model's context of %d tokens with --max-new %d and are left out; set --needle-lengths to choose\n",
				tooLong, len(probes)+len(over)*len(needles.grid.Depths)*len(needles.needles), longest, lm.session.MaxContext, opts.MaxNew)
		}
		datasets = append(datasets, d)
	}
	for _, path := range opts.Data {
		prompts, err := calibrate.ReadPrompts(path, opts.Template)
		if err != nil {
			return nil, err
		}
		d := calibrate.Dataset{Name: calibrate.DatasetName(path), MaxNew: opts.MaxNew}
		for i, pr := range prompts {
			ids := pr.IDs
			if ids == nil {
				tok, err := lm.tokenizer()
				if err != nil {
					return nil, fmt.Errorf("%s: text prompts need a tokenizer: %w", path, err)
				}
				text := pr.Text
				if truncateAt > 0 {
					text = calibrate.TruncateReference(tok, text, truncateAt)
				}
				ids = tok.Encode(text, true)
			}
			for _, id := range ids {
				if id >= m.Config().VocabSize {
					return nil, fmt.Errorf("%s: prompt %d: token id %d outside the vocabulary of %d", path, i+1, id, m.Config().VocabSize)
				}
			}
			d.Prompts = append(d.Prompts, ids)
		}
		datasets = append(datasets, d)
	}
	if len(datasets) == 0 {
		return nil, usagef("no calibration data: give --data files or keep --needles")
	}
	return datasets, nil
}

// needleBuffer keeps a quarter of the shortest context, at most the
// reference's 200 tokens, free for the question.
func needleBuffer(lengths []int) int {
	if len(lengths) == 0 {
		return 0 // resolve reports the empty list
	}
	return min(needle.DefaultBuffer, slices.Min(lengths)/4)
}

// printCalibration prints the layer scores and budgets.
func printCalibration(w io.Writer, output string, c *schema.Calibration) error {
	prompts, steps := 0, 0
	names := make([]string, len(c.Datasets))
	for i, d := range c.Datasets {
		prompts += d.Prompts
		steps += d.Steps
		names[i] = d.Name
	}
	if _, err := fmt.Fprintf(w, "%s: calibrated on %d datasets (%s), %d prompts, %d decode steps\n",
		output, len(c.Datasets), strings.Join(names, ", "), prompts, steps); err != nil {
		return err
	}
	return printBudgetTable(w, c.LayerScores, sortedAverages(c.Budgets), c.Budgets)
}
