package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
	"github.com/compresskv/compresskv/profile"
)

// benchOptions are the inputs of `compresskv bench`.
type benchOptions struct {
	shape   string // preset name or config.json path
	threads int    // 0: GOMAXPROCS
	tokens  int    // prefill length measured
	steps   int    // decode steps timed
	json    bool

	// --model: measure that model and project the grid of the probe flags
	// on it (without: the shape's one-layer measurement, the same grid).
	model, tokenizer string
	runtime          runtimeFlags
	probes           probeFlags
	maxNew           int

	// Probe sizes; the command uses the documented ones, tests shrink them.
	peakTime  time.Duration // per FMA peak probe
	memBytes  int           // memory-bandwidth buffer
	gemmShape [3]int        // M, K, N of the GEMM probe
	gemvShape [2]int        // N, K of the GEMV probe
}

// benchPresets are the config.json fields of the shapes bench knows by name.
var benchPresets = map[string]string{
	"llama-3.1-8b": `{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
		"num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
		"vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
		"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
		"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
		"tie_word_embeddings": false, "torch_dtype": "bfloat16", "bos_token_id": 128000,
		"eos_token_id": [128001, 128008, 128009]}`,
	"mistral-7b": `{"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32,
		"num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
		"vocab_size": 32768, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
		"rope_theta": 1000000.0, "sliding_window": null, "tie_word_embeddings": false,
		"torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}`,
	"qwen2.5-7b": `{"model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28,
		"num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944,
		"vocab_size": 152064, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
		"rope_theta": 1000000.0, "use_sliding_window": false, "sliding_window": 131072,
		"max_window_layers": 28, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
		"bos_token_id": 151643, "eos_token_id": 151645}`,
	"smollm2-135m": `{"model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
		"num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536,
		"vocab_size": 49152, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
		"rope_theta": 100000, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
		"bos_token_id": 0, "eos_token_id": 0}`,
	"tinyllama-1.1b": `{"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 22,
		"num_attention_heads": 32, "num_key_value_heads": 4, "intermediate_size": 5632,
		"vocab_size": 32000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
		"rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
		"bos_token_id": 1, "eos_token_id": 2}`,
}

func benchPresetNames() []string {
	names := make([]string, 0, len(benchPresets))
	for n := range benchPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// newBenchCommand builds the bench command.
func newBenchCommand(s *streams) *cobra.Command {
	opts := &benchOptions{
		peakTime:  200 * time.Millisecond,
		memBytes:  256 << 20,
		gemmShape: [3]int{512, 2048, 2048},
		gemvShape: [2]int{16384, 4096}, // 128 MB in bf16, 256 MB in f32: beyond the L3, as a real model
	}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure this machine's kernels and project the wall time of a profile run",
		Long: `bench reports, for this machine:

  1. the ceilings: float32 FMA peak (an assembly loop of independent FMAs,
     0.2 s), on CPUs with AMX the bf16 tile peak (a loop of independent
     TDPBF16PS), and memory read bandwidth (summing a 256 MB buffer), on one
     thread and on all --threads;
  2. GEMM GFLOP/s at M=512, K=N=2048 with f32 and bf16 weights (float32
     compute), and with bf16 compute (--compute bf16: AMX tiles on CPUs
     with AMX, else VDPBF16PS on CPUs with AVX512_BF16), one thread and
     all threads, as a percentage of the FMA peak, or of the AMX peak for
     bf16 compute on AMX (VDPBF16PS can pass 100 % of the FMA peak: one
     does two FMAs' work);
  3. decode GEMV GB/s (M=1, 16384x4096 weights, larger than any L3) as a percentage of the
     memory bandwidth;
  4. prefill and decode tokens/s for a model shape (--shape: a preset or a
     config.json) on random bf16 weights (the faster of two prefills, the
     median of --steps decode steps). A full 7-8B model would take too
     long and too much memory to build, so ONE decoder layer of the real
     shape is measured in full and its FLOP rate prices every layer's work
     (the last layer's skipped rows left out, as below); the
     lm_head GEMV of each decode step is added from the measured GEMV
     bandwidth (vocab*hidden*2 bytes / GB/s);
  5. the projected wall time of a 'compresskv profile' run for that
     shape, three ways: without prefix reuse, with it (profile's default),
     and with reuse + bf16 dot-product compute. The probe grid is the one
     the grid flags give, as for profile (by default configs/probes.yaml:
     needles x depths x context lengths T), laid out as needle.Build lays it out: one haystack shared by
     every probe, cut to T - buffer - needle, the needle (30 tokens
     assumed) at the depth, the question (30); each probe prefills its
     n = T - 170 prompt positions and decodes at most max-new (50) steps:

       prefill(a, b) = 2*P*tokens(a, b) / R + 4*L*H*d*pairs(a, b) / A
       step(pos)     = decode_step + L*2*G*d*(pos+1)*4 bytes / B

     tokens(a, b) = b-a and pairs(a, b) = sum of i+1 over positions
     [a, b) (causal attention), less what the last layer skips: in each
     512-token chunk it computes only the keys and values of the rows
     before its last few (at least 4, the rest whole attention blocks of
     128/(H/G) tokens), each such row saving (P/L - 2*hidden*G*d)/P of a
     token and its i+1 pairs over L. Without reuse a = 0, with reuse a is
     the prefix the probe shares with
     the one before it in the prompts' lexicographic order, less the rows
     that keep the rest of its 512-token chunk at 4 or more (plan.Reusable). P = parameters of the decoder layers, L layers, H
     query heads, G KV heads, d head_dim; R = FLOP/s of the measured
     prefill; A = FLOP/s of the measured prefill attention (the last
     512-query chunk of a 4096-token prompt of the shape, float32
     compute); decode_step =
     measured per-token decode time at --tokens context (layers +
     lm_head); B = all-thread memory bandwidth (the float32 KV cache is
     read once per step). With bf16 compute the 2*P*(b-a) part runs faster
     by the measured bf16 dot-product / f32 GEMM rate ratio, and A is
     prefill attention's measured rate under bf16 compute (decode
     attention stays float32). Decoding stops early at a newline, so the
     decode part is an upper bound.

--model DIR measures the model itself instead of a shape: its probes are
built with its tokenizer from the grid flags (context lengths above the
model's context less --max-new are capped there, and bench says so), and
the rates are the ones 'profile --dry-run' measures (a short prefill and
decode on the model, scaled to its three shortest probes run end to end);
the grid is projected from them the same three ways, the attention pairs
priced at the measured attention rates (the bf16 row applies the measured
GEMM ratio unless --compute bf16 was measured already).

bench warns that the machine looks loaded (every figure is then low and
the projection long) when the all-thread GEMM got less than 80 % of its
threads' CPU time, or the model's calibration less than 80 % of the CPU it
wanted, or when the 1-minute load average at the start exceeded half the
CPUs.
Results do not depend on --threads except in speed. The whole command takes
well under 2 minutes on 2 cores.`,
		Example: `  # The default shape (llama-3.1-8b) on every core
  compresskv bench

  # A 1B-class shape on one thread, machine-readable
  compresskv bench --shape tinyllama-1.1b --threads 1 --json

  # Any Hugging Face config.json, prefill measured at 2048 tokens
  compresskv bench --shape ~/models/Qwen2.5-7B-Instruct/config.json --tokens 2048

  # A downloaded model itself, on the quick grid
  compresskv bench --model ~/models/TinyLlama-1.1B-Chat-v1.0 --quick`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.model != "" && cmd.Flags().Changed("shape") {
				return usagef("--shape and --model: give one (--model measures the model itself)")
			}
			if err := applyEmbeddedDefaults(cmd.Flags(), probeGridFile(opts.probes.Quick, false)); err != nil {
				return err
			}
			return runBench(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.shape, "shape", "llama-3.1-8b", "model shape: a preset ("+strings.Join(benchPresetNames(), ", ")+") or a config.json path")
	f.StringVar(&opts.model, "model", "", "measure this Hugging Face checkpoint folder (or org/name[@revision] in the local cache) instead of a --shape, and project the probe grid on it")
	f.StringVar(&opts.tokenizer, "tokenizer", "", "folder with tokenizer.json for --model (default: the model folder)")
	addRuntimeFlags(f, &opts.runtime)
	addProbeFlags(f, &opts.probes, gridFlags)
	f.IntVar(&opts.maxNew, "max-new", profile.DefaultMaxNewTokens, "greedy decode limit per probe of the projected grid")
	f.IntVar(&opts.threads, "threads", 0, "goroutines for the kernels (0: GOMAXPROCS)")
	f.IntVar(&opts.tokens, "tokens", 512, "prompt tokens of the measured prefill")
	f.IntVar(&opts.steps, "steps", 8, "decode steps timed after the prefill")
	f.BoolVar(&opts.json, "json", false, "print JSON instead of tables")
	return cmd
}

// benchGEMM is one GEMM measurement.
type benchGEMM struct {
	DType       string  `json:"dtype"`
	Compute     string  `json:"compute"` // "f32" (weights widened) or "bf16" (--compute bf16)
	Threads     int     `json:"threads"`
	GFLOPs      float64 `json:"gflops"`
	PercentPeak float64 `json:"percent_of_peak"`
	Ceiling     string  `json:"ceiling"` // the peak: "fma", or "amx" (bf16 compute on AMX tiles)
}

// benchGEMV is one GEMV measurement.
type benchGEMV struct {
	DType            string  `json:"dtype"`
	Threads          int     `json:"threads"`
	GBs              float64 `json:"gb_per_s"`
	PercentBandwidth float64 `json:"percent_of_bandwidth"`
}

// benchModel is the measured and scaled model speed.
type benchModel struct {
	Shape               string  `json:"shape"`        // the preset name or the config.json path
	Architecture        string  `json:"architecture"` // model_type
	Layers              int     `json:"layers"`
	LayersMeasured      int     `json:"layers_measured"`
	Tokens              int     `json:"tokens"`
	PrefillSeconds      float64 `json:"prefill_seconds"`
	PrefillTokensPerSec float64 `json:"prefill_tokens_per_s"`
	PrefillGFLOPs       float64 `json:"prefill_gflops"`
	DecodeStepMillis    float64 `json:"decode_step_ms"`
	LMHeadMillis        float64 `json:"lm_head_ms"`
	DecodeTokensPerSec  float64 `json:"decode_tokens_per_s"`
	Note                string  `json:"note"`
}

// benchProjection is the projected default profile run.
type benchProjection struct {
	ContextLengths []int   `json:"context_lengths"`
	Depths         int     `json:"depths"`
	Needles        int     `json:"needles"`
	Probes         int     `json:"probes"`
	MaxNew         int     `json:"max_new"`
	PrefillHours   float64 `json:"prefill_hours"`
	DecodeHours    float64 `json:"decode_hours"`
	TotalHours     float64 `json:"total_hours"`
	GridSource     string  `json:"grid_source"`
	// With prefix reuse (profile's default): the prompt positions reused,
	// and the prefill and total hours. With reuse and bf16 dot-product
	// compute: the layer matrices' prefill time divided by the measured
	// bf16 / f32 GEMM rate ratio, prefill attention priced at its measured
	// bf16 rate (decode unchanged). AttentionGFLOPs and
	// BF16AttentionGFLOPs are the measured prefill attention rates that
	// price the attention pairs (the first under the compute the rates
	// were measured with).
	ReusedFraction       float64 `json:"reused_fraction"`
	ReusePrefillHours    float64 `json:"reuse_prefill_hours"`
	ReuseTotalHours      float64 `json:"reuse_total_hours"`
	BF16GEMMSpeedup      float64 `json:"bf16_gemm_speedup"`
	BF16AttentionSpeedup float64 `json:"bf16_attention_speedup"`
	ReuseBF16Hours       float64 `json:"reuse_bf16_total_hours"`
	AttentionGFLOPs      float64 `json:"attention_gflops"`
	BF16AttentionGFLOPs  float64 `json:"bf16_attention_gflops"`
	// The three totals in seconds, for runs too short for hours.
	TotalSeconds          float64 `json:"total_seconds"`
	ReuseTotalSeconds     float64 `json:"reuse_total_seconds"`
	ReuseBF16TotalSeconds float64 `json:"reuse_bf16_total_seconds"`

	grid plan.GridProjection // the unrounded times, for the table
}

// benchReport is the machine-readable form of `compresskv bench`.
type benchReport struct {
	Implementation string          `json:"implementation"`
	Threads        int             `json:"threads"`
	PeakGFLOPs1    float64         `json:"peak_fma_gflops_1_thread"`
	PeakGFLOPsAll  float64         `json:"peak_fma_gflops_all_threads"`
	PeakAMX1       float64         `json:"peak_amx_gflops_1_thread,omitempty"`
	PeakAMXAll     float64         `json:"peak_amx_gflops_all_threads,omitempty"`
	MemGBs1        float64         `json:"memory_gb_per_s_1_thread"`
	MemGBsAll      float64         `json:"memory_gb_per_s_all_threads"`
	GEMMShape      [3]int          `json:"gemm_mkn"`
	GEMM           []benchGEMM     `json:"gemm"`
	GEMVShape      [2]int          `json:"gemv_nk"`
	GEMV           []benchGEMV     `json:"gemv"`
	Model          benchModel      `json:"model"`
	Projection     benchProjection `json:"projection"`
	// CPUShare is the CPU time the all-thread GEMM measurement got over
	// its wall time and threads: well below 1 (Loaded) when other work
	// shares the machine, and every figure above is then too low.
	CPUShare float64 `json:"cpu_share"`
	// LoadAverage is the 1-minute load average when bench started (-1:
	// unknown), of CPUs; Loaded is set when either it or CPUShare says
	// other work shares the machine (plan.LooksLoaded).
	LoadAverage float64 `json:"load_average_1m"`
	CPUs        int     `json:"cpus"`
	Loaded      bool    `json:"machine_looks_loaded"`
	// CappedLengths is how many of the grid's context lengths --model's
	// context lowered (CapLength: the context minus --max-new).
	CappedLengths int `json:"capped_lengths,omitempty"`
	CapLength     int `json:"cap_length,omitempty"`

	// GEMM rates at gemmShape on all threads with bf16 weights: float32
	// compute (weights widened) and the bf16 dot-product path; prefill
	// attention's rates of the shape under both computes.
	f32DotGFLOPs, bf16DotGFLOPs   float64
	f32AttnGFLOPs, bf16AttnGFLOPs float64
}

// benchAttnContext is the prompt whose last chunk bench's attention rates
// time: long enough for the rate to have levelled off.
const benchAttnContext = 4096

// measureAttention measures cfg's prefill attention under f32 and bf16
// compute on all --threads (the ratio is bf16 compute's attention speedup).
func (r *benchReport) measureAttention(cfg *model.Config, threads int) {
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(threads)
	r.f32AttnGFLOPs = model.AttentionRate(cfg, model.ComputeF32, benchAttnContext, model.DefaultChunkSize, 3)
	r.bf16AttnGFLOPs = model.AttentionRate(cfg, model.ComputeBF16, benchAttnContext, model.DefaultChunkSize, 3)
}

func runBench(opts *benchOptions, s *streams) error {
	if err := checkThreads(opts.threads); err != nil {
		return err
	}
	if opts.tokens < 1 {
		return usagef("--tokens %d: want a positive token count", opts.tokens)
	}
	if opts.steps < 1 {
		return usagef("--steps %d: want a positive step count", opts.steps)
	}
	if opts.maxNew < 1 {
		return usagef("--max-new %d: want a positive token count", opts.maxNew)
	}
	// Read before any work of ours adds to it.
	load, cpus, ok := plan.MachineLoad()
	if !ok {
		load = -1
	}
	var rep *benchReport
	var err error
	if opts.model != "" {
		rep, err = benchOnModel(opts, s.err)
	} else {
		var cfg *model.Config
		if cfg, err = benchShape(opts.shape); err != nil {
			return err
		}
		rep, err = measureBench(opts, cfg)
	}
	if err != nil {
		return err
	}
	rep.LoadAverage, rep.CPUs = load, cpus
	rep.Loaded = plan.LooksLoaded(rep.CPUShare, load, cpus)
	if opts.json {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printBench(s.out, rep)
}

// measureBench measures the machine and cfg's shape (one layer, scaled)
// and projects the probe grid on it.
func measureBench(opts *benchOptions, cfg *model.Config) (*benchReport, error) {
	grid, needles, err := benchGrid(opts.probes.Spec)
	if err != nil {
		return nil, err
	}
	rep, gemvBF16 := measureMachine(opts)
	var speed plan.ShapeSpeed
	if rep.Model, speed, err = benchModelSpeed(cfg, opts, gemvBF16); err != nil {
		return nil, err
	}
	rep.measureAttention(cfg, opts.threads)
	rates := speed.Rates(plan.ShapeOf(*cfg), 4, rep.MemGBsAll*1e9, "bench")
	seqs := plan.GridSequences(grid.ContextLengths, grid.Depths, needles, grid.Buffer, plan.AssumedNeedleTokens, plan.AssumedQuestionTokens, opts.maxNew)
	rep.Projection = benchProjection{
		ContextLengths: grid.ContextLengths, Depths: len(grid.Depths), Needles: needles,
		Probes: needles * len(grid.Depths) * len(grid.ContextLengths), MaxNew: opts.maxNew,
		GridSource: fmt.Sprintf("the probe grid, prompts laid out with %d-token needles and questions", plan.AssumedNeedleTokens),
	}
	rep.Projection.fill(plan.ProjectGrid(plan.ShapeOf(*cfg), seqs, plan.Options{KVBytes: 4}, rates, rep.compute()), rep.compute())
	return rep, nil
}

// benchGrid resolves the probe flags' grid and needle count without
// building a prompt (--shape has no tokenizer).
func benchGrid(sp needle.Spec) (needle.Grid, int, error) {
	grid, err := sp.Grid()
	if err != nil {
		return grid, 0, usagef("probe grid: %v", err)
	}
	needles, _, err := sp.NeedleSet()
	if err != nil {
		return grid, 0, usagef("needles: %v", err)
	}
	return grid, len(needles), nil
}

// benchOnModel measures the machine, then the model of --model itself on
// the probe grid (its context lengths capped at the model's context, which
// it says on warn): profile's own calibration run, and the grid's
// projection three ways.
func benchOnModel(opts *benchOptions, warn io.Writer) (*benchReport, error) {
	lm, err := opts.runtime.load(opts.model, opts.tokenizer, warn)
	if err != nil {
		return nil, err
	}
	defer lm.close()
	m, so := lm.model, lm.session
	cfg := m.Config()
	limit := so.MaxContext - opts.maxNew
	if limit < 1 {
		return nil, usagef("--max-new %d: leaves no room for a prompt in the model's context of %d tokens", opts.maxNew, so.MaxContext)
	}
	grid, err := opts.probes.Spec.Grid()
	if err != nil {
		return nil, usagef("probe grid: %v", err)
	}
	spec, capped := opts.probes.Spec.CapLengths(limit)
	if capped > 0 {
		fmt.Fprintf(warn, "bench: %d of %d context lengths capped at %d tokens (the model's context of %d less --max-new %d)\n",
			capped, len(grid.ContextLengths), limit, so.MaxContext, opts.maxNew)
	}
	opts.probes.Spec = spec
	inputs, err := opts.probes.resolve()
	if err != nil {
		return nil, err
	}
	tok, err := lm.tokenizer()
	if err != nil {
		return nil, err
	}
	probes, _, err := inputs.buildToRun(tok, opts.maxNew, so.MaxContext, warn)
	if err != nil {
		return nil, err
	}
	rep, _ := measureMachine(opts)
	rep.CappedLengths = capped
	if capped > 0 {
		rep.CapLength = limit
	}
	defer kernels.SetThreads(kernels.Threads())
	kernels.SetThreads(opts.threads)
	runOpts := profile.Options{MaxNewTokens: opts.maxNew, Reference: inputs.compat == needle.CompatReference, Session: so}
	rates, err := profile.MeasureRates(context.Background(), m, tok, probes, runOpts, nil)
	if err != nil {
		return nil, err
	}
	if rates.CPUShare > 0 {
		rep.CPUShare = round3(min(rep.CPUShare, rates.CPUShare))
	}
	shape := plan.ShapeOf(cfg)
	t := min(opts.tokens, so.MaxContext)
	prefill, step := rates.PrefillTime(shape, 0, t, so.Chunk).Seconds(), rates.StepTime(t).Seconds()
	rep.Model = benchModel{
		Shape: opts.model, Architecture: cfg.Architecture, Layers: cfg.NumLayers, LayersMeasured: cfg.NumLayers, Tokens: t,
		PrefillSeconds: round3(prefill), PrefillTokensPerSec: round1(float64(t) / prefill), PrefillGFLOPs: round1(shape.PrefillFLOPs(0, t, so.Chunk) / prefill / 1e9),
		DecodeStepMillis: round3(step * 1e3), DecodeTokensPerSec: round3(1 / step),
		Note: rates.Source + "; lm_head included in the step",
	}
	rep.measureAttention(&cfg, opts.threads)
	c := rep.compute()
	if lm.computeName() == "bf16" {
		// Measured under --compute bf16 already: no further speedup to
		// apply, and attention at its bf16 rate in all three rows.
		c = plan.Compute{LayerSpeedup: 1, Attention: c.AttentionBF16, AttentionBF16: c.AttentionBF16}
	}
	rep.Projection = benchProjection{
		ContextLengths: inputs.grid.ContextLengths, Depths: len(inputs.grid.Depths), Needles: len(inputs.needles),
		Probes: len(probes), MaxNew: opts.maxNew, GridSource: "the probe grid on the model's tokenizer",
	}
	g := plan.ProjectGrid(shape, profile.Sequences(probes, runOpts), plan.Options{Chunk: so.Chunk, KVBytes: so.CacheDType.Bytes()}, rates, c)
	rep.Projection.fill(g, c)
	return rep, nil
}

// measureMachine takes the machine's measurements (plan.MeasureMachine)
// into a report, rounded as printed. It returns the all-thread bf16 GEMV
// bandwidth in GB/s (which prices a bf16 lm_head).
func measureMachine(opts *benchOptions) (*benchReport, float64) {
	mm := plan.MeasureMachine(plan.MachineOptions{Threads: opts.threads, PeakTime: opts.peakTime, MemBytes: opts.memBytes,
		GEMMShape: opts.gemmShape, GEMVShape: opts.gemvShape})
	rep := &benchReport{Implementation: mm.Implementation, Threads: mm.Threads, GEMMShape: opts.gemmShape, GEMVShape: opts.gemvShape,
		PeakGFLOPs1: mm.PeakGFLOPs1, PeakGFLOPsAll: mm.PeakGFLOPsAll, PeakAMX1: mm.PeakAMX1, PeakAMXAll: mm.PeakAMXAll, MemGBs1: mm.MemGBs1, MemGBsAll: mm.MemGBsAll,
		CPUShare: round3(mm.CPUShare), f32DotGFLOPs: mm.F32DotGFLOPs, bf16DotGFLOPs: mm.BF16DotGFLOPs}
	for _, g := range mm.GEMM {
		rep.GEMM = append(rep.GEMM, benchGEMM{g.DType.String(), g.Compute, g.Threads, round1(g.GFLOPs), round1(100 * g.OfPeak), g.Ceiling})
	}
	for _, g := range mm.GEMV {
		rep.GEMV = append(rep.GEMV, benchGEMV{g.DType.String(), g.Threads, round1(g.GBs), round1(100 * g.OfRead)})
	}
	return rep, mm.GEMVBF16GBs
}

// benchShape resolves --shape: a preset name or a config.json path.
func benchShape(shape string) (*model.Config, error) {
	if js, ok := benchPresets[shape]; ok {
		return model.ParseConfig([]byte(js), "preset "+shape)
	}
	data, err := os.ReadFile(shape)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, usagef("--shape %q: neither a preset (%s) nor an existing config.json", shape, strings.Join(benchPresetNames(), ", "))
		}
		return nil, fmt.Errorf("--shape: %w", err)
	}
	return model.ParseConfig(data, shape)
}

// benchModelSpeed measures cfg's shape (plan.MeasureShape) and reports it.
func benchModelSpeed(full *model.Config, opts *benchOptions, gemvGBs float64) (benchModel, plan.ShapeSpeed, error) {
	sp, err := plan.MeasureShape(full, opts.tokens, opts.steps, gemvGBs)
	if err != nil {
		return benchModel{}, sp, err
	}
	return benchModel{
		Shape:               opts.shape,
		Architecture:        full.Architecture,
		Layers:              sp.Layers,
		LayersMeasured:      sp.LayersMeasured,
		Tokens:              sp.Tokens,
		PrefillSeconds:      round3(sp.PrefillSeconds),
		PrefillTokensPerSec: round1(float64(sp.Tokens) / sp.PrefillSeconds),
		PrefillGFLOPs:       round1(sp.PrefillFLOPRate / 1e9),
		DecodeStepMillis:    round3(sp.StepSeconds * 1e3),
		LMHeadMillis:        round3(sp.LMHeadSeconds * 1e3),
		DecodeTokensPerSec:  round3(1 / sp.StepSeconds),
		Note: fmt.Sprintf("%d of %d decoder layers measured on random bf16 weights and scaled by %d; lm_head (%d x %d bf16) added from the GEMV bandwidth",
			sp.LayersMeasured, sp.Layers, sp.Layers, full.VocabSize, full.HiddenSize),
	}, sp, nil
}

// fill copies a grid projection into the report's hours.
func (p *benchProjection) fill(g plan.GridProjection, c plan.Compute) {
	p.grid = g
	p.PrefillHours = round3(g.NoReuse.Prefill.Hours())
	p.DecodeHours = round3(g.NoReuse.Decode.Hours())
	p.TotalHours = round3(g.NoReuse.Total.Hours())
	p.ReusedFraction = round3(g.ReusedFraction)
	p.ReusePrefillHours = round3(g.Reuse.Prefill.Hours())
	p.ReuseTotalHours = round3(g.Reuse.Total.Hours())
	p.BF16GEMMSpeedup = round3(c.LayerSpeedup)
	p.BF16AttentionSpeedup = round3(c.AttentionSpeedup())
	p.AttentionGFLOPs = round1(c.Attention / 1e9)
	p.BF16AttentionGFLOPs = round1(c.AttentionBF16 / 1e9)
	p.ReuseBF16Hours = round3(g.ReuseBF16.Total.Hours())
	p.TotalSeconds = round3(g.NoReuse.Total.Seconds())
	p.ReuseTotalSeconds = round3(g.Reuse.Total.Seconds())
	p.ReuseBF16TotalSeconds = round3(g.ReuseBF16.Total.Seconds())
}

// compute is what the report measured for the grid projection, all
// threads: the bf16 dot-product GEMM rate over the f32 one on the same
// bf16 weights (1 when unmeasured), and the shape's prefill attention
// rates under f32 and bf16 compute in FLOP/s (0 when unmeasured).
func (r *benchReport) compute() plan.Compute {
	layers := 1.0
	if r.bf16DotGFLOPs > 0 && r.f32DotGFLOPs > 0 {
		layers = r.bf16DotGFLOPs / r.f32DotGFLOPs
	}
	return plan.Compute{LayerSpeedup: layers, Attention: r.f32AttnGFLOPs * 1e9, AttentionBF16: r.bf16AttnGFLOPs * 1e9}
}

// printBench renders the report as tables.
func printBench(w io.Writer, r *benchReport) error {
	fmt.Fprintf(w, "kernels: %s, %d threads\n", r.Implementation, r.Threads)
	if r.Loaded {
		load := "load average unknown"
		if r.LoadAverage >= 0 {
			load = fmt.Sprintf("load average %.2f on %d CPUs", r.LoadAverage, r.CPUs)
		}
		fmt.Fprintf(w, "warning: the machine looks loaded (%s; the measurements got %.0f %% of %d threads' time), so every figure below is low and the projection long\n", load, 100*r.CPUShare, r.Threads)
	}
	fmt.Fprintln(w)
	t := newTable(w)
	t.Header("ceiling", "1 thread", fmt.Sprintf("%d threads", r.Threads))
	t.Append("FMA peak (GFLOP/s)", f1(r.PeakGFLOPs1), f1(r.PeakGFLOPsAll))
	if r.PeakAMX1 > 0 {
		t.Append("AMX bf16 peak (GFLOP/s)", f1(r.PeakAMX1), f1(r.PeakAMXAll))
	}
	t.Append("memory read (GB/s)", f1(r.MemGBs1), f1(r.MemGBsAll))
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nGEMM M=%d K=%d N=%d\n", r.GEMMShape[0], r.GEMMShape[1], r.GEMMShape[2])
	t = newTable(w)
	t.Header("weights", "compute", "threads", "GFLOP/s", "% of peak")
	for _, g := range r.GEMM {
		t.Append(g.DType, g.Compute, fmt.Sprint(g.Threads), f1(g.GFLOPs), fmt.Sprintf("%s of %s", f1(g.PercentPeak), strings.ToUpper(g.Ceiling)))
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nGEMV (decode) M=1 N=%d K=%d\n", r.GEMVShape[0], r.GEMVShape[1])
	t = newTable(w)
	t.Header("weights", "threads", "GB/s", "% of memory bandwidth")
	for _, g := range r.GEMV {
		t.Append(g.DType, fmt.Sprint(g.Threads), f1(g.GBs), f1(g.PercentBandwidth))
	}
	if err := t.Render(); err != nil {
		return err
	}
	m := r.Model
	fmt.Fprintf(w, "\nmodel %s (%s), %d layers (%s)\n", m.Shape, m.Architecture, m.Layers, m.Note)
	t = newTable(w)
	t.Header("phase", "tokens/s", "detail")
	t.Append(fmt.Sprintf("prefill %d tokens", m.Tokens), f1(m.PrefillTokensPerSec), fmt.Sprintf("%.3f s, %.1f GFLOP/s", m.PrefillSeconds, m.PrefillGFLOPs))
	lmHead := "lm_head included"
	if m.LMHeadMillis > 0 {
		lmHead = fmt.Sprintf("lm_head %.1f ms", m.LMHeadMillis)
	}
	t.Append("decode", fmt.Sprintf("%.3f", m.DecodeTokensPerSec), fmt.Sprintf("%.1f ms/token (%s)", m.DecodeStepMillis, lmHead))
	if err := t.Render(); err != nil {
		return err
	}
	p := r.Projection
	fmt.Fprintf(w, "\nprojected profile run (%s: %d needles x %d depths x %d lengths %d..%d = %d probes, <= %d decode steps each)\n",
		p.GridSource, p.Needles, p.Depths, len(p.ContextLengths), slices.Min(p.ContextLengths), slices.Max(p.ContextLengths), p.Probes, p.MaxNew)
	if r.CappedLengths > 0 {
		fmt.Fprintf(w, "(%d context lengths capped at %d tokens to fit the model's context)\n", r.CappedLengths, r.CapLength)
	}
	t = newTable(w)
	t.Header("part", "time")
	g := p.grid
	t.Append("prefill", benchDuration(g.NoReuse.Prefill))
	t.Append("decode (upper bound)", benchDuration(g.NoReuse.Decode))
	t.Append("total", benchDuration(g.NoReuse.Total))
	t.Append(fmt.Sprintf("total with prefix reuse (%.0f %% of prompt tokens reused; prefill %s)", 100*g.ReusedFraction, benchDuration(g.Reuse.Prefill)), benchDuration(g.Reuse.Total))
	t.Append(fmt.Sprintf("total with prefix reuse + bf16 compute (GEMM %.2fx, attention %.2fx)", p.BF16GEMMSpeedup, p.BF16AttentionSpeedup), benchDuration(g.ReuseBF16.Total))
	return t.Render()
}

// benchDuration prints a projected time in hours above a day's tenth, else
// as a duration rounded to what matters.
func benchDuration(d time.Duration) string {
	switch {
	case d >= 3*time.Hour:
		return fmt.Sprintf("%.2f h", d.Hours())
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
func f1(x float64) string      { return fmt.Sprintf("%.1f", x) }
