package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/calibrate/eval"
	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// evalOptions are the flags of `compresskv eval`.
type evalOptions struct {
	Model, Tokenizer, Profile, Output string

	Probes probeFlags

	Methods           []string
	Budgets           []int
	MaxNew            int
	DecodeBatch       int // --decode-batch: method x budget sessions decoded together
	TopK              int
	Window            int
	Kernel            int
	Pooling           string
	PyramidBeta       int
	ReferenceGrouping bool
	SameNeedles       bool
	Distractors       int
	Resume            bool
	Shard             string
	Shards            int
	Threads           int
	JSON              bool
	DryRun            bool
	Runtime           runtimeFlags

	needleSeedGiven bool                // --needle-seed was set by the user
	getenv          func(string) string // os.Getenv; replaced in tests
	progress        bool
	ctx             context.Context
}

// newEvalCommand builds the eval command.
func newEvalCommand(s *streams) *cobra.Command {
	opts := &evalOptions{getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Needle-in-a-haystack accuracy under a compressed KV cache: full, StreamingLLM, SnapKV, PyramidKV, CompressKV",
		Long: `eval runs a needle-in-a-haystack grid (the probe flags of profile) and, per
probe, one full prefill of the prompt; then for every --methods x --budgets
(average tokens per layer) it keeps only the positions the method selects
(docs/method.md section 3: once, from the last --window queries; the window
is always kept; nothing is evicted when the prompt fits), decodes greedily
from that compressed copy of the cache (stopping at a newline or EOS), and
scores the response against the answer with ROUGE-1 recall (success:
recall > 0.5) and exact match.

Methods: full (no eviction), streaming (StreamingLLM: first 4 + most
recent), snapkv (every head votes for its own KV head, same budget per
layer), pyramidkv (SnapKV with budgets falling across layers), compresskv
(the profile's top --top-k SRH heads vote, the same positions for every KV
head, per-layer budgets from the profile's calibration), and
compresskv-uniform (the same selection, the same budget per layer).

Circularity guard: the profile's heads were found on its own needles, so
eval refuses to run on them. Without --needle-seed, eval's generated
needles take the profile's seed + 1; --same-needles overrides the guard
(the result is then recorded as circular).

Every finished probe is appended to <output>.partial.jsonl; an interrupted
run resumes from it. --shard i/n runs the probes with index % n == i and
writes <output>.shard-i-of-n.jsonl; ` + "`compresskv merge`" + ` combines them.
The result is a compresskv.eval/v1 document (docs/eval-schema.md);
` + "`compresskv inspect`" + ` prints its table and ` + "`compresskv plot`" + ` draws it.`,
		Example: `  # The built-in synthetic model, its own calibrated profile
  compresskv profile -o synth.json && compresskv calibrate --profile synth.json
  compresskv eval --profile synth.json -o eval.json --budgets 16,32,64,128,512

  # Only the baselines (no profile needed), two budgets
  compresskv eval --model ~/models/Mistral-7B-Instruct-v0.3 --methods full,streaming,snapkv \
      --budgets 128,512 --quick -o mistral-eval.json

  # What a run would do, without running it
  compresskv eval --profile synth.json --dry-run`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.needleSeedGiven = cmd.Flags().Changed("needle-seed")
			if err := applyEmbeddedDefaults(cmd.Flags(), probeGridFile(opts.Probes.Quick, opts.Model == "")); err != nil {
				return err
			}
			opts.progress = isTerminal(s.err)
			return runEval(opts, s)
		},
	}
	f := cmd.Flags()
	addModelFlags(f, &opts.Model, &opts.Tokenizer)
	addRuntimeFlags(f, &opts.Runtime)
	def := selection.DefaultParams()
	f.StringVar(&opts.Profile, "profile", "", "profile whose SRH ranking (and calibrated budgets) the compresskv methods use")
	f.StringVarP(&opts.Output, "output", "o", "eval.json", "eval file to write (compresskv.eval/v1)")
	addProbeFlags(f, &opts.Probes, gridFlags)
	f.StringSliceVar(&opts.Methods, "methods", []string{"full", "streaming", "snapkv", "pyramidkv", "compresskv-uniform", "compresskv"}, "methods to compare")
	f.IntSliceVar(&opts.Budgets, "budgets", eval.DefaultBudgets, "average KV budgets in tokens per layer")
	f.IntVar(&opts.MaxNew, "max-new", eval.DefaultMaxNewTokens, "greedy decode limit per probe and method")
	f.IntVar(&opts.DecodeBatch, "decode-batch", 0, fmt.Sprintf("a probe's method x budget decodes run together, so --compute bf16 reads the layer weights once per step for all (same results; default 0: %d)", model.BatchRows))
	f.IntVar(&opts.TopK, "top-k", 0, "SRH heads per layer that vote (default: the profile's calibration top_k, else 4)")
	f.IntVar(&opts.Window, "window", def.Window, "observation window w (always kept; its queries vote)")
	f.IntVar(&opts.Kernel, "kernel", def.Kernel, "pooling kernel (odd)")
	f.StringVar(&opts.Pooling, "pooling", string(def.Pooling), "pooling: avg or max")
	f.IntVar(&opts.PyramidBeta, "pyramid-beta", selection.DefaultPyramidBeta, "PyramidKV: the last layer keeps about 1/beta of the first's")
	f.BoolVar(&opts.ReferenceGrouping, "reference-grouping", false, "SnapKV/PyramidKV: group query heads by h mod G as the reference does (not h / r)")
	f.IntVar(&opts.Distractors, "distractors", 0, "insert this many generated facts of the needles' form (other entities and answers) into the haystack")
	f.BoolVar(&opts.SameNeedles, "same-needles", false, "allow evaluating on the needles the profile was scored on (circular)")
	f.BoolVar(&opts.Resume, "resume", true, "resume from <output>.partial.jsonl when it exists")
	f.StringVar(&opts.Shard, "shard", "", "run only shard i/n (probes with index % n == i) and write <output>.shard-i-of-n.jsonl")
	f.IntVar(&opts.Shards, "shards", 0, "shard count for JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID when --shard is not given")
	f.IntVar(&opts.Threads, "threads", 0, "CPU threads (default: all)")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (probes x methods x budgets, tokens) and stop")
	return cmd
}

func runEval(opts *evalOptions, s *streams) error {
	if opts.Output == "" {
		return usagef("--output must not be empty")
	}
	if err := checkThreads(opts.Threads); err != nil {
		return err
	}
	if opts.MaxNew <= 0 {
		return usagef("--max-new %d: want a positive token count", opts.MaxNew)
	}
	if opts.DecodeBatch < 0 || opts.DecodeBatch > 64 {
		return usagef("--decode-batch %d: want 0 (automatic) or 1..64 sessions", opts.DecodeBatch)
	}
	methods, err := eval.ParseMethods(opts.Methods)
	if err != nil {
		return usagef("--methods: %v", err)
	}
	budgets, err := evalBudgets(opts.Budgets, opts.Window)
	if err != nil {
		return err
	}
	pooling, err := selection.ParsePooling(opts.Pooling)
	if err != nil {
		return usagef("--pooling: %v", err)
	}
	params := selection.Params{Window: opts.Window, Kernel: opts.Kernel, Pooling: pooling, ReferenceGrouping: opts.ReferenceGrouping}
	if err := params.Validate(); err != nil {
		return usagef("%v", err)
	}
	shard, err := resolveShard(&profileOptions{Shard: opts.Shard, Shards: opts.Shards, getenv: opts.getenv})
	if err != nil {
		return err
	}

	var prof *schema.Profile
	var profInfo eval.ProfileInfo
	needsProfile := false
	for _, m := range methods {
		needsProfile = needsProfile || m.NeedsProfile()
	}
	if opts.Profile != "" {
		if prof, profInfo, err = readEvalProfile(opts.Profile); err != nil {
			return err
		}
	} else if needsProfile {
		return usagef("--profile is required by the compresskv methods (or leave them out of --methods)")
	}
	for _, m := range methods {
		if m.NeedsCalibration() && (prof == nil || prof.Calibration == nil) {
			return usagef("%s: profile is not calibrated, and method compresskv needs its per-layer budgets; run `compresskv calibrate --profile %s` or use compresskv-uniform", opts.Profile, opts.Profile)
		}
	}
	// The circularity guard, part 1: move generated needles off the
	// profile's seed unless the user chose one.
	if prof != nil && !opts.needleSeedGiven && opts.Probes.Spec.Needles == "" && prof.Probes.Needles == "generated" && opts.Probes.Spec.NeedleSeed == prof.Probes.NeedleSeed {
		opts.Probes.Spec.NeedleSeed = prof.Probes.NeedleSeed + 1
	}
	inputs, err := opts.Probes.resolve()
	if err != nil {
		return err
	}
	if opts.Distractors < 0 {
		return usagef("--distractors %d: want a count >= 0", opts.Distractors)
	}
	distractorSeed := inputs.spec.NeedleSeed + distractorSeedOffset
	if opts.Distractors > 0 {
		inputs.haystack = needle.WithDistractors(inputs.haystack, distractors(distractorSeed, opts.Distractors, inputs.needles))
	}
	if prof != nil {
		same, err := sameNeedles(prof, inputs)
		if err != nil {
			return err
		}
		if same && !opts.SameNeedles {
			return usagef("%s: eval's needles are ones the profile was scored on (needles %s, seed %d); choose another --needle-seed or --needles, or pass --same-needles to accept a circular evaluation", opts.Profile, inputs.needlesName, inputs.spec.NeedleSeed)
		}
		profInfo.SameNeedles = same
	}
	defer limitThreads(opts.Threads)()

	lm, err := opts.Runtime.load(opts.Model, opts.Tokenizer, s.err)
	if err != nil {
		return err
	}
	defer lm.close()
	m := lm.model
	if prof != nil {
		if err := sameModel(prof, m, opts.Profile); err != nil {
			return usagef("%v", err)
		}
	}
	tok, err := lm.tokenizer()
	if err != nil {
		return err
	}
	probes, skips, err := inputs.buildToRun(tok, opts.MaxNew, lm.session.MaxContext, s.err)
	if err != nil {
		return err
	}

	cfg := m.Config()
	sel := &eval.Selector{Params: params, Layers: cfg.NumLayers, PyramidBeta: opts.PyramidBeta}
	topK := opts.TopK
	if prof != nil {
		if topK <= 0 && prof.Calibration != nil {
			topK = prof.Calibration.TopK
		}
		if topK <= 0 {
			topK = calibrate.DefaultOptions().TopK
		}
		sel.Heads = calibrate.Heads(prof.Heads.Ranking, topK)
		if c := prof.Calibration; c != nil {
			sel.Budgets = map[int][]int{}
			for k, b := range c.Budgets {
				if avg, err := strconv.Atoi(k); err == nil {
					sel.Budgets[avg] = b
				}
			}
			// Averages the profile does not list are allocated from its
			// layer scores with its own floor and ceiling (Allocate is
			// what calibrate ran for the listed ones).
			for _, avg := range budgets {
				if _, ok := sel.Budgets[avg]; !ok && calibrate.CheckAllocation(avg, c.Floor, c.CeilingFactor) == nil {
					sel.Budgets[avg] = calibrate.Allocate(c.LayerScores, avg, c.Floor, c.CeilingFactor)
				}
			}
		}
	}
	jobs := eval.Jobs(methods, budgets)
	if err := sel.Check(jobs); err != nil {
		return usagef("%v", err)
	}

	settings := eval.Settings{
		Methods: methods, Budgets: budgets, Window: params.Window, Kernel: params.Kernel, Pooling: string(params.Pooling),
		TopK: topK, PyramidBeta: opts.PyramidBeta, ReferenceGrouping: opts.ReferenceGrouping,
		MaxNewTokens: opts.MaxNew, SuccessRecall: eval.DefaultSuccessRecall,
		KVCache: lm.session.CacheDType.String(), KVBytesPerToken: 2 * cfg.NumKVHeads * cfg.HeadDim * lm.session.CacheDType.Bytes(),
		Rope: lm.session.Rope.String(), Compute: lm.computeName(),
	}
	info := inputs.info()
	grid := eval.Grid{
		Template: info.Template, Haystack: info.Haystack, HaystackSeed: info.HaystackSeed,
		Needles: info.Needles, NeedleSeed: info.NeedleSeed, NeedleCount: info.NeedleCount,
		ContextLengths: info.ContextLengths, Depths: info.Depths, Buffer: info.Buffer,
		PrefillChunk: lm.session.Chunk, Skipped: len(skips), SkipReasons: map[string]int{},
	}
	if opts.Distractors > 0 {
		grid.Distractors, grid.DistractorSeed = opts.Distractors, distractorSeed
	}
	for _, sk := range skips {
		grid.SkipReasons[sk.Reason]++
	}
	header := eval.Header{Tool: schema.Tool{Name: "compresskv", Version: version, Arithmetic: m.Compute().Arithmetic()}, Model: profile.ModelInfo(m), Profile: profInfo, Settings: settings, Grid: grid}
	for _, p := range probes {
		header.Indices = append(header.Indices, p.Index)
	}
	header.Shard = shard

	ctx, stop := interruptible(opts.ctx)
	defer stop()
	runOpts := eval.Options{Jobs: jobs, Selector: sel, MaxNewTokens: opts.MaxNew, Shard: shard, Session: lm.session, DecodeBatch: opts.DecodeBatch}
	if opts.DryRun {
		return printEvalPlan(ctx, s.out, lm, tok, probes, methods, budgets, runOpts, "probes")
	}

	journal := profile.JournalPath(opts.Output, shard)
	ckpt, err := eval.OpenCheckpoint(journal, header, opts.Resume)
	if err != nil {
		return err
	}
	defer ckpt.Close()
	runOpts.Checkpoint = ckpt
	if n := ckpt.Done(); n > 0 {
		total := 0
		for _, p := range probes {
			if shard.Has(p.Index) {
				total++
			}
		}
		fmt.Fprintf(s.err, "resuming: %d of %d probes done (%s)\n", n, total, journal)
	}
	// An interruption during the plan's measurement (which scores probes
	// into the checkpoint) is reported as one during the run.
	var done []eval.Probe
	var clock plan.Clock
	err = printEvalPlan(ctx, s.err, lm, tok, probes, methods, budgets, runOpts, "probes to run")
	if err == nil {
		bar := newProgressBar(s.err, opts.progress, "probes")
		runOpts.Progress = func(p eval.Progress) { bar.update(p.Done, p.Total, p.Resumed, p.Tokens) }
		clock = plan.StartClock()
		done, err = eval.Run(ctx, m, tok, probes, runOpts)
		bar.finish()
	}
	if err == nil {
		// Beside the plan's projection: what the probes took.
		fmt.Fprintf(s.err, "run: probes %s\n", clock.Report(kernels.Threads()))
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted: %s in %s; run the same command again to resume", savedProbes(ckpt.Done()), journal)
		}
		if weightsChanged(err) {
			return fmt.Errorf("%w: %s in %s, and the same command resumes from them", err, savedProbes(ckpt.Done()), journal)
		}
		return err
	}
	if !shard.Whole() {
		if err := ckpt.Finish(); err != nil {
			return err
		}
		fmt.Fprintf(s.out, "shard %s: %d probes written to %s; combine all shards with `compresskv merge`\n", shard, len(done), journal)
		return nil
	}
	doc := eval.Build(&header, done)
	if err := writeEval(doc, opts.Output); err != nil {
		return err
	}
	if err := ckpt.Remove(); err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.out, doc.Summary)
	}
	fmt.Fprintf(s.out, "%s: %d probes x %d method-budget runs\n", opts.Output, len(doc.Probes), len(doc.Summary))
	return printEvalTable(s.out, doc)
}

// evalBudgets checks --budgets: positive, above the window, each once.
func evalBudgets(budgets []int, window int) ([]int, error) {
	if len(budgets) == 0 {
		return nil, usagef("--budgets: want at least one budget")
	}
	seen := map[int]bool{}
	for _, b := range budgets {
		if b <= window {
			return nil, usagef("--budgets %d: want more than the observation window %d (the window is always kept)", b, window)
		}
		if seen[b] {
			return nil, usagef("--budgets: %d given twice", b)
		}
		seen[b] = true
	}
	return budgets, nil
}

// readEvalProfile loads a profile and fingerprints its bytes.
func readEvalProfile(path string) (*schema.Profile, eval.ProfileInfo, error) {
	data, err := schema.ReadBytes(path)
	if err != nil {
		return nil, eval.ProfileInfo{}, err
	}
	p, err := schema.Read(data, path)
	if err != nil {
		return nil, eval.ProfileInfo{}, err
	}
	sum := sha256.Sum256(data)
	return p, eval.ProfileInfo{
		Fingerprint: "sha256:" + hex.EncodeToString(sum[:]),
		Needles:     p.Probes.Needles, NeedleSeed: p.Probes.NeedleSeed, NeedleCount: p.Probes.NeedleCount,
		Calibrated: p.Calibration != nil,
	}, nil
}

// sameNeedles reports whether any of eval's needles is one the profile was
// scored on: generated needles are regenerated from the profile's seed and
// compared by text; a needle file is recognised by its name.
func sameNeedles(p *schema.Profile, in *probeInputs) (bool, error) {
	switch {
	case p.Probes.Needles == "generated":
		if p.Probes.NeedleCount <= 0 {
			return false, nil
		}
		theirs := map[string]bool{}
		for _, n := range needle.GenerateNeedles(p.Probes.NeedleSeed, p.Probes.NeedleCount) {
			theirs[n.Needle] = true
		}
		for _, n := range in.needles {
			if theirs[n.Needle] {
				return true, nil
			}
		}
		return false, nil
	default:
		return in.needlesName == p.Probes.Needles, nil
	}
}

func writeEval(d *eval.Document, path string) error {
	data, err := eval.Marshal(d)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}

// printEvalPlan prints what the run will do and cost before it starts,
// with the wall time projected from a short run of the model itself (none
// when every probe is in the checkpoint already).
func printEvalPlan(ctx context.Context, w io.Writer, lm *loadedModel, tok needle.Tokenizer, probes []needle.Probe, methods []eval.Method, budgets []int, runOpts eval.Options, what string) error {
	p, err := eval.NewPlan(lm.model, probes, methods, budgets, runOpts, weightFileBytes(lm.dir))
	if err != nil {
		return err
	}
	var rates *plan.Rates
	if p.Cost.Prompts > 0 {
		var mine []needle.Probe
		for _, pr := range probes {
			if runOpts.Shard.Has(pr.Index) {
				mine = append(mine, pr)
			}
		}
		r, err := eval.MeasureRates(ctx, lm.model, tok, mine, runOpts)
		if err != nil {
			return err
		}
		rates = &r
		// The probes the measurement scored are in the checkpoint now:
		// the plan counts what is left.
		if p, err = eval.NewPlan(lm.model, probes, methods, budgets, runOpts, weightFileBytes(lm.dir)); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, p.Format(what, rates))
	return err
}

// printEvalTable prints method x budget: mean recall, success and exact
// rates, the kept fraction of the cache and the KV memory kept.
func printEvalTable(w io.Writer, d *eval.Document) error {
	t := newTable(w)
	t.Header("method", "budget", "probes", "recall", "success", "exact", "kept", "KV kept")
	for _, a := range d.Summary {
		budget := strconv.Itoa(a.Budget)
		if a.Method == eval.Full {
			budget = "-"
		}
		if err := t.Append(string(a.Method), budget, strconv.Itoa(a.Probes),
			fmt.Sprintf("%.3f", a.MeanRecall), fmt.Sprintf("%.0f%%", 100*a.SuccessRate), fmt.Sprintf("%.0f%%", 100*a.ExactRate),
			fmt.Sprintf("%.1f%%", 100*a.KeptFraction), humanBytes(a.KVBytes)); err != nil {
			return err
		}
	}
	return t.Render()
}

// humanBytes prints a byte count with a binary unit.
func humanBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", b, units[i])
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// distractorSeedOffset separates the distractors' seed from the needles'.
const distractorSeedOffset = 1_000_003

// distractors generates n facts of the needles' form from seed, leaving
// out any that asks one of the needles' questions (two answers to one
// question would make the probe ambiguous).
func distractors(seed int64, n int, needles []needle.Needle) []needle.Needle {
	asked := map[string]bool{}
	for _, nd := range needles {
		asked[nd.Question] = true
	}
	var out []needle.Needle
	for _, f := range needle.GenerateNeedles(seed, 2*n) {
		if len(out) < n && !asked[f.Question] {
			out = append(out, f)
		}
	}
	return out
}
