package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/plan"
)

// smallBench returns bench options with probes shrunk to milliseconds and
// the default probe grid (configs/probes.yaml).
func smallBench(t testing.TB, shape string) *benchOptions {
	return &benchOptions{
		shape: shape, threads: 2, tokens: 24, steps: 2, maxNew: 50, probes: embeddedProbeFlags(t, "probes.yaml"),
		peakTime: time.Millisecond, memBytes: 1 << 20,
		gemmShape: [3]int{17, 64, 40}, gemvShape: [2]int{70, 64},
	}
}

// embeddedProbeFlags returns the probe flags as the embedded file sets them.
func embeddedProbeFlags(t testing.TB, file string) probeFlags {
	t.Helper()
	fs := pflag.NewFlagSet("probes", pflag.ContinueOnError)
	var pf probeFlags
	addProbeFlags(fs, &pf, gridFlags)
	if err := applyEmbeddedDefaults(fs, file); err != nil {
		t.Fatal(err)
	}
	return pf
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--shape", "no-such-model"},
		{"bench", "--tokens", "0"},
		{"bench", "--steps", "-1"},
		{"bench", "--threads", "-2"},
		{"bench", "extra"},
	} {
		if code, _, errOut := runCLI(args...); code != exitUsage {
			t.Errorf("%v: exit %d (stderr %q), want %d", args, code, errOut, exitUsage)
		}
	}
}

func TestBenchJSONReport(t *testing.T) {
	var out bytes.Buffer
	opts := smallBench(t, "smollm2-135m")
	opts.json = true
	if err := runBench(opts, &streams{out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	var r benchReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if r.Threads != 2 || len(r.GEMM) != 6 || len(r.GEMV) != 4 {
		t.Errorf("threads %d, %d GEMM and %d GEMV rows; want 2 threads, {f32, bf16 weights, bf16 compute} x {1, 2} threads GEMM and 2 dtypes x {1, 2} GEMV", r.Threads, len(r.GEMM), len(r.GEMV))
	}
	for _, g := range r.GEMM {
		if !(g.GFLOPs > 0 && g.PercentPeak > 0) {
			t.Errorf("GEMM row %+v: want positive figures", g)
		}
	}
	m := r.Model
	if m.Layers != 30 || m.LayersMeasured != 1 || m.Tokens != 24 || !(m.PrefillTokensPerSec > 0 && m.DecodeTokensPerSec > 0) {
		t.Errorf("model %+v: want 30 layers, 1 measured, 24 tokens, positive speeds", m)
	}
	p := r.Projection
	// configs/probes.yaml: 3 needles x 10 depths x 20 lengths 1000..31500.
	if p.Probes != 600 || len(p.ContextLengths) != 20 || p.ContextLengths[0] != 1000 || p.ContextLengths[19] != 31500 || p.MaxNew != 50 {
		t.Errorf("projection grid %+v, want 600 probes over 1000..31500, 50 decode steps", p)
	}
	// The formula of the help text, recomputed from the reported figures:
	// a probe of target length T prefills n = T - 200 (buffer) - 30
	// (needle) + 30 (needle) + 30 (question) + 1 (BOS) - 1 (fed by the
	// first step) = T - 170 positions, position i attending to i+1 keys,
	// then decodes 50 steps at positions n .. n+49. In each 512-token
	// chunk the last layer computes only the keys and values of the rows
	// before its last model.LastLayerRows: each such row saves its
	// share of one layer's matrices, (P/L - 2*576*G*d) parameters, and its
	// i+1 pairs of that layer.
	cfg, err := benchShape("smollm2-135m")
	if err != nil {
		t.Fatal(err)
	}
	P := float64(plan.ShapeOf(*cfg).LayerParams())
	L, H, G, d := 30.0, 9.0, 3.0, 64.0
	var prefill, decode float64
	for _, T := range p.ContextLengths {
		n := float64(T - 170)
		params, pairs := P*n, L*n*(n+1)/2
		for c0 := 0; c0 < T-170; c0 += 512 {
			rows := min(512, T-170-c0)
			for i := c0; i < c0+rows-model.LastLayerRows(3, rows, 0); i++ {
				params -= P/L - 2*576*G*d
				pairs -= float64(i + 1)
			}
		}
		prefill += 2*params/(m.PrefillGFLOPs*1e9) + 4*H*d*pairs/(p.AttentionGFLOPs*1e9)
		for pos := n; pos < n+50; pos++ {
			decode += m.DecodeStepMillis/1e3 + L*2*G*d*(pos+1)*4/(r.MemGBsAll*1e9)
		}
	}
	wantTotal := 30 * (prefill + decode) / 3600
	// The reported GFLOP/s are rounded to 0.1: the projection, from the
	// unrounded rates, may differ by that much relative to them.
	if math.Abs(p.TotalHours-wantTotal) > 0.002+(1e-3+0.05/m.PrefillGFLOPs+0.05/p.AttentionGFLOPs)*wantTotal || math.Abs(p.TotalHours-p.PrefillHours-p.DecodeHours) > 0.0015 {
		t.Errorf("projection %.3f h (prefill %.3f + decode %.3f), formula gives %.3f h", p.TotalHours, p.PrefillHours, p.DecodeHours, wantTotal)
	}
	// Prefix reuse saves prefill only; bf16 compute speeds the layer
	// matrices by the measured GEMM ratio and prices prefill attention at
	// its measured bf16 rate.
	if !(p.ReusedFraction > 0.3 && p.ReusedFraction < 0.7) || !(p.ReusePrefillHours < p.PrefillHours) ||
		math.Abs(p.ReuseTotalHours-p.ReusePrefillHours-p.DecodeHours) > 0.0015 {
		t.Errorf("with reuse: %+v", p)
	}
	s, a := p.BF16GEMMSpeedup, p.BF16AttentionSpeedup
	if !(s > 0) || !(a > 0) || (min(s, a) > 1.05 && p.ReuseBF16Hours >= p.ReuseTotalHours) || (max(s, a) < 0.95 && p.ReuseBF16Hours <= p.ReuseTotalHours) {
		t.Errorf("bf16 speedups %v (GEMM), %v (attention), reuse + bf16 %.3f h against reuse %.3f h", s, a, p.ReuseBF16Hours, p.ReuseTotalHours)
	}
}

func TestBenchTablesFromConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(benchPresets["smollm2-135m"]), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runBench(smallBench(t, path), &streams{out: &out, err: &out}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FMA peak (GFLOP/s)", "GEMM M=17 K=64 N=40", "GEMV (decode) M=1 N=70 K=64", "(llama), 30 layers (1 of 30 decoder layers measured", "prefill 24 tokens", "600 probes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchPresetsParse(t *testing.T) {
	for _, name := range benchPresetNames() {
		if _, err := benchShape(name); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
}

// BenchmarkReferenceGridTinyLlama measures what `compresskv bench --shape
// tinyllama-1.1b` measures and reports the projected reference-grid hours
// without prefix reuse, with it, and with reuse + bf16 compute (one
// measurement takes about a minute: run with -benchtime=1x).
func BenchmarkReferenceGridTinyLlama(b *testing.B) {
	cfg, err := benchShape("tinyllama-1.1b")
	if err != nil {
		b.Fatal(err)
	}
	opts := &benchOptions{shape: "tinyllama-1.1b", tokens: 512, steps: 8, maxNew: 50, probes: embeddedProbeFlags(b, "probes.yaml"),
		peakTime: 200 * time.Millisecond, memBytes: 256 << 20,
		gemmShape: [3]int{512, 2048, 2048}, gemvShape: [2]int{16384, 4096}}
	var rep *benchReport
	for b.Loop() {
		if rep, err = measureBench(opts, cfg); err != nil {
			b.Fatal(err)
		}
	}
	p := rep.Projection
	b.ReportMetric(p.TotalHours, "h-no-reuse")
	b.ReportMetric(p.ReuseTotalHours, "h-reuse")
	b.ReportMetric(p.ReuseBF16Hours, "h-reuse+bf16")
	b.ReportMetric(p.BF16GEMMSpeedup, "bf16-gemm-x")
	b.ReportMetric(p.BF16AttentionSpeedup, "bf16-attn-x")
	b.ReportMetric(rep.CPUShare, "cpu-share")
}

// TestBenchOnModel: --model measures the model itself on the probe grid,
// capped at its context (and says so).
func TestBenchOnModel(t *testing.T) {
	dir := testshared.Require(t, "models/stories260K-f32")
	var out, errOut bytes.Buffer
	opts := smallBench(t, "")
	opts.model, opts.json = dir, true
	opts.runtime = runtimeFlags{Chunk: 64, KVDType: "f32", Rope: "hf", Compute: "f32"}
	opts.probes.Spec.Lengths, opts.probes.Spec.Depths, opts.probes.Spec.NeedlesCount = []int{300, 1000}, []float64{0, 50}, 1
	if err := runBench(opts, &streams{out: &out, err: &errOut}); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if want := "bench: 1 of 2 context lengths capped at 462 tokens (the model's context of 512 less --max-new 50)\n"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
	}
	var r benchReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	p, m := r.Projection, r.Model
	if r.CappedLengths != 1 || r.CapLength != 462 || !slices.Equal(p.ContextLengths, []int{300, 462}) || p.Probes != 4 || p.Needles != 1 || p.Depths != 2 {
		t.Errorf("capped %d at %d, grid %+v; want lengths 300, 462 x 2 depths x 1 needle", r.CappedLengths, r.CapLength, p)
	}
	if m.Shape != dir || m.Layers != 5 || m.LayersMeasured != 5 || !(m.PrefillGFLOPs > 0 && m.DecodeStepMillis > 0) || !strings.Contains(m.Note, "measured on this model") {
		t.Errorf("model %+v: want all 5 layers of the model measured", m)
	}
	if !(p.TotalSeconds > 0 && p.ReuseTotalSeconds > 0 && p.ReuseTotalSeconds < p.TotalSeconds) {
		t.Errorf("projection %+v: want positive times, less with prefix reuse (20 %% reused)", p)
	}
	if r.CPUs < 1 {
		t.Errorf("cpus %d", r.CPUs)
	}

	code, _, stderr := runCLI("bench", "--model", dir, "--shape", "tinyllama-1.1b")
	if code != exitUsage || !strings.Contains(stderr, "--shape and --model: give one") {
		t.Errorf("--shape with --model: exit %d, %q", code, stderr)
	}
}
