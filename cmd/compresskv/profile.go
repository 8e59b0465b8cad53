package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/compresskv/compresskv/configs"
	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// profileOptions are the flags of `compresskv profile`.
type profileOptions struct {
	Model, Tokenizer, Output string

	Haystack     string
	Needles      string
	NeedleSeed   int64
	NeedlesCount int
	Seed         int64 // haystack seed
	Lengths      []int
	MinLength    int
	MaxLength    int
	Intervals    int
	Depths       []float64
	MinDepth     float64
	MaxDepth     float64
	DepthSteps   int
	Logistic     bool
	Buffer       int
	Template     string
	AddSpecial   bool

	MaxNew          int
	TeacherForced   bool
	NormalizedSRH   bool
	Resume          bool
	Shard           string
	Shards          int
	ExportReference string
	Threads         int
	Quick           bool
	JSON            bool

	getenv   func(string) string // os.Getenv; replaced in tests
	progress bool                // draw a progress bar on stderr
	ctx      context.Context     // nil: cancelled on SIGINT / SIGTERM
}

func init() {
	register(func(s *streams) *cobra.Command {
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

Without --model the built-in synthetic model is profiled with the quick
probe grid, so the command works with nothing downloaded. Grid flags not
given fall back to configs/probes.yaml (probes-quick.yaml with --quick or
without --model).

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
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := applyGridDefaults(cmd.Flags(), opts); err != nil {
					return err
				}
				opts.progress = isTerminal(s.err)
				return runProfile(opts, s)
			},
		}
		f := cmd.Flags()
		f.StringVar(&opts.Model, "model", "", "Hugging Face checkpoint folder (config.json + *.safetensors); empty: the built-in synthetic model")
		f.StringVar(&opts.Tokenizer, "tokenizer", "", "folder with tokenizer.json (default: the model folder)")
		f.StringVarP(&opts.Output, "output", "o", "profile.json", "profile file to write")
		f.StringVar(&opts.Haystack, "haystack", "", `haystack: "generated" (seeded prose) or a .txt file or folder of .txt files`)
		f.StringVar(&opts.Needles, "needles", "", "needle JSONL file (reference format: needle, question, real_needle); empty: generated needles")
		f.Int64Var(&opts.NeedleSeed, "needle-seed", 0, "seed of the generated needles")
		f.IntVar(&opts.NeedlesCount, "needles-count", 0, "number of generated needles")
		f.IntVar(&opts.NeedlesCount, "needle-count", 0, "alias of --needles-count")
		_ = f.MarkHidden("needle-count")
		f.Int64Var(&opts.Seed, "seed", 0, "seed of the generated haystack")
		f.IntSliceVar(&opts.Lengths, "lengths", nil, "context lengths in tokens (overrides --min-length/--max-length/--intervals)")
		f.IntVar(&opts.MinLength, "min-length", 0, "shortest context length in tokens")
		f.IntVar(&opts.MaxLength, "max-length", 0, "longest context length in tokens")
		f.IntVar(&opts.Intervals, "intervals", 0, "number of context lengths, spaced linearly")
		f.Float64SliceVar(&opts.Depths, "depths", nil, "needle depths in percent (overrides --min-depth/--max-depth/--depth-intervals)")
		f.Float64Var(&opts.MinDepth, "min-depth", 0, "smallest needle depth in percent")
		f.Float64Var(&opts.MaxDepth, "max-depth", 0, "largest needle depth in percent")
		f.IntVar(&opts.DepthSteps, "depth-intervals", 0, "number of depths")
		f.BoolVar(&opts.Logistic, "logistic", false, "space depths logistically (the reference's sigmoid option) instead of linearly")
		f.IntVar(&opts.Buffer, "buffer", 0, "tokens of each context length kept free for the question and answer")
		f.StringVar(&opts.Template, "template", "", "prompt template: "+strings.Join(needle.TemplateNames(), ", "))
		f.BoolVar(&opts.AddSpecial, "add-special", true, "add the tokenizer's special tokens (BOS) to the prompt")
		f.IntVar(&opts.MaxNew, "max-new", profile.DefaultMaxNewTokens, "greedy decode limit per probe")
		f.BoolVar(&opts.TeacherForced, "teacher-forced", false, "feed the true answer tokens instead of decoding greedily (deviation from the reference)")
		f.BoolVar(&opts.NormalizedSRH, "normalized-srh", false, "normalised SRH: a matching step adds the span mass once, divided by the span length (deviation)")
		f.BoolVar(&opts.Resume, "resume", true, "resume from <output>.partial.jsonl when it exists")
		f.StringVar(&opts.Shard, "shard", "", "run only shard i/n (probes with index % n == i) and write <output>.shard-i-of-n.jsonl")
		f.IntVar(&opts.Shards, "shards", 0, "shard count for JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID when --shard is not given")
		f.StringVar(&opts.ExportReference, "export-reference", "", "also write the reference implementation's head_idx.json into this folder")
		f.IntVar(&opts.Threads, "threads", 0, "CPU threads (default: all)")
		f.BoolVar(&opts.Quick, "quick", false, "use the quick probe grid (configs/probes-quick.yaml) for flags not given")
		f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
		return cmd
	})
}

// applyGridDefaults fills every flag the user, the environment and --config
// left unset from the embedded probe grid (its keys are flag names).
func applyGridDefaults(flags *pflag.FlagSet, opts *profileOptions) error {
	name := "probes.yaml"
	if opts.Quick || opts.Model == "" {
		name = "probes-quick.yaml"
	}
	data, err := configs.Read(name)
	if err != nil {
		return err
	}
	if flags.Changed("needle-count") { // the alias counts as the flag
		flags.Lookup("needles-count").Changed = true
	}
	var grid map[string]any
	if err := yaml.Unmarshal(data, &grid); err != nil {
		return fmt.Errorf("configs/%s: %w", name, err)
	}
	for key, val := range grid {
		f := flags.Lookup(key)
		if f == nil || f.Changed {
			continue
		}
		if err := f.Value.Set(fmt.Sprint(val)); err != nil {
			return fmt.Errorf("configs/%s: %s: %w", name, key, err)
		}
	}
	return nil
}

// isTerminal reports whether w is a terminal (progress bars only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
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
	if opts.MaxNew <= 0 {
		return usagef("--max-new %d: want a positive token count", opts.MaxNew)
	}
	shard, err := resolveShard(opts)
	if err != nil {
		return err
	}
	if opts.Threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(opts.Threads))
	}

	m, tok, err := loadProfileModel(opts)
	if err != nil {
		return err
	}
	defer m.Close()
	probes, skips, info, err := buildProbes(opts, tok)
	if err != nil {
		return err
	}
	runOpts := profile.Options{
		MaxNewTokens:  opts.MaxNew,
		TeacherForced: opts.TeacherForced,
		NormalizedSRH: opts.NormalizedSRH,
		Shard:         shard,
	}
	header := profile.NewHeader(schema.Tool{Name: "compresskv", Version: version}, profile.ModelInfo(m), info, probes, skips, runOpts)

	journal := opts.Output + ".partial.jsonl"
	if !shard.Whole() {
		journal = fmt.Sprintf("%s.shard-%d-of-%d.jsonl", opts.Output, shard.Index, shard.Count)
	}
	ckpt, err := profile.OpenCheckpoint(journal, header, opts.Resume)
	if err != nil {
		return err
	}
	defer ckpt.Close()
	runOpts.Checkpoint = ckpt

	ctx := opts.ctx
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	report := newProgressReporter(s.err, opts.progress)
	res, err := profile.Run(ctx, m, tok, probes, runOpts, report.update)
	report.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted: %d probes are saved in %s; run the same command again to resume", len(ckpt.Done()), journal)
		}
		return err
	}

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
	return printSummary(s.out, summarize(p, opts.Output), opts.JSON, "")
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
		data, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
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

// loadProfileModel loads --model and its tokenizer, or the built-in
// synthetic model.
func loadProfileModel(opts *profileOptions) (*model.Model, *tokenizer.Tokenizer, error) {
	dir := opts.Model
	if dir == "" {
		var err error
		if dir, err = syntheticModelDir(); err != nil {
			return nil, nil, err
		}
	}
	m, err := model.Load(dir, model.Options{})
	if err != nil {
		return nil, nil, err
	}
	tokDir := opts.Tokenizer
	if tokDir == "" {
		tokDir = dir
	}
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, tok, nil
}

// buildProbes makes the probe grid from the options, and the probe settings
// the profile records.
func buildProbes(opts *profileOptions, tok *tokenizer.Tokenizer) ([]needle.Probe, []needle.Skip, schema.ProbeInfo, error) {
	var info schema.ProbeInfo
	lengths := opts.Lengths
	if len(lengths) == 0 {
		if opts.Intervals <= 0 || opts.MinLength <= 0 || opts.MaxLength < opts.MinLength {
			return nil, nil, info, usagef("context lengths: --min-length %d, --max-length %d, --intervals %d: want 0 < min <= max and intervals > 0",
				opts.MinLength, opts.MaxLength, opts.Intervals)
		}
		lengths = needle.LinearLengths(opts.MinLength, opts.MaxLength, opts.Intervals)
	}
	depths := opts.Depths
	if len(depths) == 0 {
		if opts.DepthSteps <= 0 {
			return nil, nil, info, usagef("--depth-intervals %d: want a positive count", opts.DepthSteps)
		}
		if opts.Logistic {
			depths = needle.LogisticDepths(opts.MinDepth, opts.MaxDepth, opts.DepthSteps)
		} else {
			depths = needle.LinearDepths(opts.MinDepth, opts.MaxDepth, opts.DepthSteps)
		}
	}
	tmpl, err := needle.TemplateFor(opts.Template)
	if err != nil {
		return nil, nil, info, usagef("--template: %v", err)
	}
	var needles []needle.Needle
	needlesName := "generated"
	if opts.Needles != "" {
		if needles, err = needle.LoadNeedles(opts.Needles); err != nil {
			return nil, nil, info, err
		}
		needlesName = filepath.Base(opts.Needles)
	} else {
		if opts.NeedlesCount <= 0 {
			return nil, nil, info, usagef("--needles-count %d: want a positive count", opts.NeedlesCount)
		}
		needles = needle.GenerateNeedles(opts.NeedleSeed, opts.NeedlesCount)
	}
	maxLen := 0
	for _, l := range lengths {
		maxLen = max(maxLen, l)
	}
	var hay string
	hayName := "generated"
	switch opts.Haystack {
	case "", "generated":
		// About 4 characters per token; Build repeats a short haystack.
		hay = needle.GenerateHaystack(opts.Seed, 5*maxLen+1000)
	default:
		if hay, err = needle.LoadHaystack(opts.Haystack); err != nil {
			return nil, nil, info, err
		}
		hayName = filepath.Base(opts.Haystack)
	}
	grid := needle.Grid{ContextLengths: lengths, Depths: depths, Buffer: opts.Buffer}
	probes, skips, err := needle.Build(tok, hay, needles, needle.Settings{
		Grid: grid, Template: tmpl, AddSpecial: opts.AddSpecial,
		NeedleSeed: opts.NeedleSeed, HaystackSeed: opts.Seed,
	})
	if err != nil {
		return nil, nil, info, err
	}
	if len(probes) == 0 {
		return nil, nil, info, fmt.Errorf("no probe could be built (%d skipped; first reason: %s)", len(skips), firstReason(skips))
	}
	info = schema.ProbeInfo{
		Template: tmpl.Name, Haystack: hayName, HaystackSeed: opts.Seed,
		Needles: needlesName, NeedleSeed: opts.NeedleSeed, NeedleCount: len(needles),
		ContextLengths: lengths, Depths: depths, Buffer: opts.Buffer,
	}
	if tmpl.Name == "custom" {
		info.Template = tmpl.Text
	}
	return probes, skips, info, nil
}

func firstReason(skips []needle.Skip) string {
	if len(skips) == 0 {
		return "none"
	}
	return skips[0].Reason
}

// progressReporter draws a progress bar on a terminal and stays quiet
// otherwise.
type progressReporter struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	start time.Time
}

func newProgressReporter(w io.Writer, enabled bool) *progressReporter {
	if !enabled {
		return &progressReporter{}
	}
	return &progressReporter{w: w, start: time.Now()}
}

func (r *progressReporter) update(p profile.Progress) {
	if r.start.IsZero() {
		return
	}
	if r.bar == nil {
		r.bar = progressbar.NewOptions(p.Total,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetDescription("probes"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
		_ = r.bar.Set(p.Resumed)
	}
	rate := float64(p.Tokens) / time.Since(r.start).Seconds()
	r.bar.Describe(fmt.Sprintf("probes (%.0f tok/s)", rate))
	_ = r.bar.Set(p.Done)
}

func (r *progressReporter) finish() {
	if r.bar != nil {
		_ = r.bar.Finish()
	}
}

// syntheticModelDir returns the folder of the built-in synthetic model.
func syntheticModelDir() (string, error) {
	return "", errors.New("the built-in synthetic model is not available in this build; pass --model DIR")
}
