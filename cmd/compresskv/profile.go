package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// profileOptions are the flags of `compresskv profile`.
type profileOptions struct {
	Model, Tokenizer, Output string

	Probes probeFlags // the probe grid, needles, haystack and template

	MaxNew          int
	MinSuccess      int // fewest probes that must pass the recall gate (exit 1 below it, after writing)
	TeacherForced   bool
	NormalizedSRH   bool
	Resume          bool
	Shard           string
	Shards          int
	ExportReference string
	Threads         int
	JSON            bool
	Report          string  // --report: per-probe JSONL with timings
	PrefixReuse     bool    // --prefix-reuse: prefill only what a probe does not share with the cached prompt
	DecodeBatch     int     // --decode-batch: probes decoded together; 0: automatic
	UntilStable     float64 // --until-stable J: stop once the ranking is stable (0: run the grid)
	StableWindow    int     // --stable-window
	DryRun          bool    // --dry-run: print the plan and exit
	Runtime         runtimeFlags

	getenv   func(string) string // os.Getenv; replaced in tests
	progress bool                // draw a progress bar on stderr
	ctx      context.Context     // nil: cancelled on SIGINT / SIGTERM
}

// newProfileCommand builds the profile command.
func newProfileCommand(s *streams) *cobra.Command {
	opts := &profileOptions{getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Score every attention head on needle-in-a-haystack probes (SRH + retrieval) and write a profile",
		Long: `profile builds needle-in-a-haystack probes, runs each through the model
(prefill, then greedy decoding of up to --max-new tokens, stopping at a
newline or EOS), and scores every query head with the semantic retrieval
score (SRH, CompressKV) and the classic retrieval score (Wu et al.). Probes
whose response recalls more than half of the answer (ROUGE-1) count; a
head's score is its mean over them. The per-layer ranking by SRH is what
inference consumes (see docs/profile-schema.md).

Without --model the built-in synthetic model is profiled with its own small
grid (configs/probes-synth.yaml: the quick grid with the answer-prefix
template), so the command works with nothing downloaded. Grid flags not
given fall back to configs/probes.yaml (probes-quick.yaml with --quick).

Every finished probe is appended to <output>.partial.jsonl (synced to disk).
After an interruption (Ctrl-C, a crash, a preempted node) the same command
resumes from it (--resume, on by default); the final profile is identical
to an uninterrupted run's, and the checkpoint is removed once the profile is
written. --resume=false discards a checkpoint and starts over.

--shard i/n runs only the probes with index % n == i and writes them to
<output>.shard-i-of-n.jsonl instead of a profile; ` + "`compresskv merge`" + ` combines the
shard files into the profile a single run would write. Inside a Kubernetes
Indexed Job (JOB_COMPLETION_INDEX, with --shards n) or a Slurm job array
(SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT) the shard is found from the
environment when --shard is not given. See docs/sharding.md.`,
		Example: `  # The built-in synthetic model, quick grid: seconds
  compresskv profile -o synth.json

  # A Hugging Face checkpoint, the reference grid, reference files exported too
  compresskv profile --model ~/models/Mistral-7B-Instruct-v0.3 -o mistral.json \
      --export-reference mistral-ref/

  # A quick look: 4 lengths x 5 depths, greedy decoding limited to 20 tokens
  compresskv profile --model ~/models/Llama-3.1-8B-Instruct --quick --max-new 20

  # Shard 2 of 8 (e.g. on one node), then merge all shards
  compresskv profile --model ~/models/qwen2.5-7b --shard 2/8 -o qwen.json
  compresskv merge qwen.json.shard-*-of-8.jsonl -o qwen.json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEmbeddedDefaults(cmd.Flags(), probeGridFile(opts.Probes.Quick, opts.Model == "")); err != nil {
				return err
			}
			opts.progress = isTerminal(s.err)
			return runProfile(opts, s)
		},
	}
	f := cmd.Flags()
	addModelFlags(f, &opts.Model, &opts.Tokenizer)
	addRuntimeFlags(f, &opts.Runtime)
	f.StringVarP(&opts.Output, "output", "o", "profile.json", "profile file to write")
	addProbeFlags(f, &opts.Probes, gridFlags)
	f.IntVar(&opts.MaxNew, "max-new", profile.DefaultMaxNewTokens, "greedy decode limit per probe")
	f.IntVar(&opts.MinSuccess, "min-success", schema.DefaultMinSuccess, "fewest probes that must pass the recall gate; below it the profile is still written but the command exits 1 (0 accepts any)")
	f.BoolVar(&opts.TeacherForced, "teacher-forced", false, "feed the true answer tokens instead of decoding greedily (deviation from the reference)")
	f.BoolVar(&opts.NormalizedSRH, "normalized-srh", false, "normalised SRH: a matching step adds the span mass once, divided by the span length (deviation)")
	f.BoolVar(&opts.Resume, "resume", true, "resume from <output>.partial.jsonl when it exists")
	f.StringVar(&opts.Shard, "shard", "", "run only shard i/n (probes with index % n == i) and write <output>.shard-i-of-n.jsonl")
	f.IntVar(&opts.Shards, "shards", 0, "shard count for JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID when --shard is not given")
	f.StringVar(&opts.ExportReference, "export-reference", "", "also write the reference implementation's head_idx.json into this folder")
	f.IntVar(&opts.Threads, "threads", 0, "CPU threads (default: all)")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	f.StringVar(&opts.Report, "report", "", "append one JSON line per probe run (response, recall, success, tokens/s) to this file")
	f.BoolVar(&opts.PrefixReuse, "prefix-reuse", true, "keep the prompt prefix one probe shares with the next in the KV cache (same profile bytes, less prefill)")
	f.IntVar(&opts.DecodeBatch, "decode-batch", 0, fmt.Sprintf("probes decoded together, each with its own KV cache copy, so --compute bf16 reads the layer weights once per step for all (same profile bytes; default: %d under bf16 compute, as many as fit in half the free memory, else 1)", model.BatchRows))
	f.Float64Var(&opts.UntilStable, "until-stable", 0, "run probes in a well-spread order and stop once every layer's bootstrap top-4 Jaccard stays >= J (0 < J <= 1; 0: the whole grid)")
	f.IntVar(&opts.StableWindow, "stable-window", profile.DefaultStableWindow, "successful probes --until-stable must hold for")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (probes, tokens, FLOPs, memory, projected time) and exit")
	return cmd
}

// profileSummary is what `profile` and `merge` print at the end.
type profileSummary struct {
	Output     string  `json:"output"`
	Shard      string  `json:"shard,omitempty"`
	Run        int     `json:"run"`
	Successful int     `json:"successful"`
	Skipped    int     `json:"skipped"`
	TopHeads   [][]int `json:"top_heads,omitempty"` // [layers][<=4] best SRH heads
}

func runProfile(opts *profileOptions, s *streams) error {
	if opts.Output == "" {
		return usagef("--output must not be empty")
	}
	if err := checkThreads(opts.Threads); err != nil {
		return err
	}
	if opts.MinSuccess < 0 {
		return usagef("--min-success %d: want a count of probes, 0 or more", opts.MinSuccess)
	}
	if opts.MaxNew <= 0 {
		return usagef("--max-new %d: want a positive token count", opts.MaxNew)
	}
	if opts.UntilStable < 0 || opts.UntilStable > 1 {
		return usagef("--until-stable %v: want a Jaccard threshold in (0, 1], or 0 for the whole grid", opts.UntilStable)
	}
	if opts.StableWindow < 1 {
		return usagef("--stable-window %d: want at least 1 probe", opts.StableWindow)
	}
	if opts.DecodeBatch < 0 || opts.DecodeBatch > 64 {
		return usagef("--decode-batch %d: want 0 (automatic) or 1..64 probes", opts.DecodeBatch)
	}
	shard, err := resolveShard(opts)
	if err != nil {
		return err
	}
	if opts.UntilStable > 0 && !shard.Whole() {
		return usagef("--until-stable needs the whole grid in one run: shard %s would stop on its own probes' ranking", shard)
	}
	inputs, err := opts.Probes.resolve()
	if err != nil {
		return err
	}
	defer limitThreads(opts.Threads)()

	lm, err := opts.Runtime.load(opts.Model, opts.Tokenizer, s.err)
	if err != nil {
		return err
	}
	defer lm.close()
	m := lm.model
	tok, err := lm.tokenizer()
	if err != nil {
		return err
	}
	probes, skips, err := inputs.buildToRun(tok, opts.MaxNew, lm.session.MaxContext, s.err) // Run checks the fit too
	if err != nil {
		return err
	}
	runOpts := profile.Options{
		MaxNewTokens:  opts.MaxNew,
		TeacherForced: opts.TeacherForced,
		NormalizedSRH: opts.NormalizedSRH,
		Reference:     inputs.compat == needle.CompatReference,
		Shard:         shard,
		PrefixReuse:   opts.PrefixReuse,
		UntilStable:   opts.UntilStable,
		StableWindow:  opts.StableWindow,
		Session:       lm.session,
		DecodeBatch:   opts.DecodeBatch,
	}
	if runOpts.DecodeBatch == 0 {
		runOpts.DecodeBatch = profile.AutoDecodeBatch(m, probes, runOpts, memAvailable())
	}
	info := inputs.info()
	info.KVCache, info.PrefillChunk, info.Rope = lm.session.CacheDType.String(), lm.session.Chunk, lm.session.Rope.String()
	info.Compute = lm.computeName()
	header := profile.NewHeader(schema.Tool{Name: "compresskv", Version: version, Arithmetic: lm.model.Compute().Arithmetic()}, lm.info(), info, probes, skips, runOpts)

	journal := profile.JournalPath(opts.Output, shard)
	if opts.DryRun {
		return printPlan(context.Background(), s.out, lm, probes, runOpts, "probes", nil)
	}
	ckpt, err := profile.OpenCheckpoint(journal, header, opts.Resume)
	if err != nil {
		return err
	}
	defer ckpt.Close()
	runOpts.Checkpoint = ckpt
	if n := len(ckpt.Done()); n > 0 {
		fmt.Fprintf(s.err, "resuming: %d of %d probes done (%s)\n", n, len(header.Indices), journal)
	}
	report, err := openReport(opts.Report)
	if err != nil {
		return err
	}
	defer report.Close()
	// Interruptible from the plan on: its measurement scores probes into
	// the checkpoint too.
	ctx, stop := interruptible(opts.ctx)
	defer stop()
	var res *profile.Result
	var clock plan.Clock
	err = printPlan(ctx, s.err, lm, probes, runOpts, "probes to run", report.add)
	if err == nil {
		bar := newProgressBar(s.err, opts.progress, "probes")
		clock = plan.StartClock()
		res, err = profile.Run(ctx, m, tok, probes, runOpts, func(p profile.Progress) {
			bar.update(p.Done, p.Total, p.Resumed, p.Tokens)
			report.add(p)
		})
		bar.finish()
	}
	if rerr := report.Close(); err == nil {
		err = rerr
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted: %s in %s; run the same command again to resume", savedProbes(len(ckpt.Done())), journal)
		}
		if weightsChanged(err) {
			return fmt.Errorf("%w: %s in %s, and the same command resumes from them", err, savedProbes(len(ckpt.Done())), journal)
		}
		return err
	}
	// Beside the plan's projection: what the probes took.
	fmt.Fprintf(s.err, "run: %d probes %s\n", len(res.Records)-res.Resumed, clock.Report(kernels.Threads()))

	sum := profileSummary{Output: opts.Output, Shard: shard.String(), Skipped: header.Probes.Skipped}
	if !shard.Whole() {
		if err := ckpt.Finish(); err != nil {
			return err
		}
		sum.Output = journal
		for _, r := range res.Records {
			sum.Run++
			if r.Result.Success {
				sum.Successful++
			}
		}
		return printSummary(s.out, sum, opts.JSON, fmt.Sprintf("shard %s written to %s; combine all shards with `compresskv merge`", shard, journal))
	}
	sum.Shard = ""
	p, err := profile.Build(&header, res.Records)
	if err != nil {
		return err
	}
	if err := writeProfile(p, opts.Output, opts.ExportReference); err != nil {
		return err
	}
	if err := ckpt.Remove(); err != nil {
		return err
	}
	warnIfUninformative(s.err, p)
	if err := printSummary(s.out, summarize(p, opts.Output), opts.JSON, ""); err != nil {
		return err
	}
	return checkMinSuccess(p, opts.Output, opts.MinSuccess)
}

// checkMinSuccess fails a run whose ranking rests on fewer than minSuccess
// successful probes. The profile is already written: the probes' results in
// it say what the model answered, and nothing a user computed is lost.
func checkMinSuccess(p *schema.Profile, output string, minSuccess int) error {
	if err := schema.CheckEvidence(p, minSuccess); err != nil {
		return fmt.Errorf("%s was written, but %v; --min-success 0 keeps it without this error", output, err)
	}
	return nil
}

// printPlan prints what the run will cost, with the wall time projected
// from a short calibration run of the model itself.
// The probes the measurement scores go to progress (nil: dropped).
func printPlan(ctx context.Context, w io.Writer, lm *loadedModel, probes []needle.Probe, runOpts profile.Options, what string, progress func(profile.Progress)) error {
	tok, err := lm.tokenizer()
	if err != nil {
		return err
	}
	// Measured first: the probes it scores go into the run's checkpoint
	// (when it has one), and the plan counts what is left.
	rates, err := profile.MeasureRates(ctx, lm.model, tok, probes, runOpts, progress)
	if err != nil {
		return err
	}
	p, err := profile.Plan(lm.model, probes, runOpts, weightFileBytes(lm.dir))
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, p.Format(what, &rates))
	return err
}

// weightFileBytes sums the sizes of the .safetensors files in dir.
func weightFileBytes(dir string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// probeReport appends one JSON line per finished probe to --report: what
// the profile keeps of the probe plus its timing, which the profile itself
// leaves out so that its bytes do not depend on the machine.
type probeReport struct {
	f   *os.File
	err error
}

// probeReportLine is one line of a --report file.
type probeReportLine struct {
	schema.ProbeResult
	FedTokens       int     `json:"fed_tokens"`
	ReusedTokens    int     `json:"reused_tokens"` // prompt positions taken from the prefix cache instead of fed
	Seconds         float64 `json:"seconds"`
	TokensPerSecond float64 `json:"tokens_per_second"`
}

// openReport opens path for appending; "" gives a report that drops lines.
func openReport(path string) (*probeReport, error) {
	if path == "" {
		return &probeReport{}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	return &probeReport{f: f}, nil
}

func (r *probeReport) add(p profile.Progress) {
	if r.f == nil || r.err != nil {
		return
	}
	line := probeReportLine{ProbeResult: p.Last, FedTokens: p.LastTokens, ReusedTokens: p.LastReused, Seconds: p.LastTime.Seconds()}
	if line.Seconds > 0 {
		line.TokensPerSecond = float64(p.LastTokens) / line.Seconds
	}
	data, err := json.Marshal(line)
	if err == nil {
		_, err = r.f.Write(append(data, '\n'))
	}
	if err != nil {
		r.err = fmt.Errorf("%s: %w", r.f.Name(), err)
	}
}

// Close closes the file and returns the first write error.
func (r *probeReport) Close() error {
	if r.f == nil {
		return r.err
	}
	err := r.f.Close()
	r.f = nil
	if r.err != nil {
		return r.err
	}
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// warnIfUninformative tells the user, on stderr, when too few probes passed
// the recall gate for the ranking to mean anything.
func warnIfUninformative(w io.Writer, p *schema.Profile) {
	run, ok := p.Probes.Run, p.Probes.Successful
	switch {
	case run > 0 && ok == 0:
		// checkMinSuccess fails the run (unless --min-success 0) and says why.
	case run > 0 && 2*ok < run:
		fmt.Fprintf(w, "compresskv: note: only %d of %d probes passed the recall gate; the scores are means over those\n", ok, run)
	}
}

// resolveShard reads --shard, else the batch-array environment.
func resolveShard(opts *profileOptions) (profile.Shard, error) {
	if opts.Shard != "" {
		sh, err := profile.ParseShard(opts.Shard)
		if err != nil {
			return profile.Shard{}, usagef("--shard: %v", err)
		}
		return sh, nil
	}
	if opts.Shards < 0 {
		return profile.Shard{}, usagef("--shards %d: want a positive count", opts.Shards)
	}
	sh, _, err := profile.ShardFromEnv(opts.getenv, opts.Shards)
	if err != nil {
		return profile.Shard{}, usagef("%v", err)
	}
	return sh, nil
}

// writeProfile writes p (and the reference files when asked).
func writeProfile(p *schema.Profile, output, exportDir string) error {
	data, err := schema.Marshal(p)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(output, data, 0o644); err != nil {
		return err
	}
	if exportDir != "" {
		return schema.ExportReference(p, exportDir)
	}
	return nil
}

func summarize(p *schema.Profile, output string) profileSummary {
	sum := profileSummary{Output: output, Run: p.Probes.Run, Successful: p.Probes.Successful, Skipped: p.Probes.Skipped}
	for _, row := range p.Heads.Ranking {
		sum.TopHeads = append(sum.TopHeads, row[:min(4, len(row))])
	}
	return sum
}

func printSummary(w io.Writer, sum profileSummary, asJSON bool, note string) error {
	if asJSON {
		return writeJSON(w, sum)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d probes run, %d successful, %d skipped\n", sum.Output, sum.Run, sum.Successful, sum.Skipped)
	if len(sum.TopHeads) > 0 {
		b.WriteString("top SRH heads per layer:\n")
		for l, heads := range sum.TopHeads {
			fmt.Fprintf(&b, "  layer %2d: %v\n", l, heads)
		}
	}
	if note != "" {
		b.WriteString(note + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// savedProbes says how many probes a checkpoint keeps ("1 probe is saved",
// "3 probes are saved").
func savedProbes(n int) string {
	if n == 1 {
		return "1 probe is saved"
	}
	return fmt.Sprintf("%d probes are saved", n)
}
