package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// cancelOn is a stderr that cancels a run once it has printed text (a
// progress line: the journal then holds that many finished items).
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	text   string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.text) {
		c.cancel()
	}
	return len(p), nil
}

// planLines splits a plan's output and checks its deterministic lines
// exactly: the counts and FLOPs, the memory. The projected time (measured)
// is only checked to be there.
func checkPlanLines(t *testing.T, out string, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < len(want)+1 {
		t.Fatalf("plan has %d lines, want %d and a projection:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("plan line %d:\n got %q\nwant %q", i+1, lines[i], w)
		}
	}
	if !strings.HasPrefix(lines[len(want)], "plan: projected ") || !strings.Contains(lines[len(want)], " on a quiet machine (prefill ") {
		t.Errorf("plan line %d %q: want the projected time", len(want)+1, lines[len(want)])
	}
}

// TestCalibrateDryRunAndResume: --dry-run prints the plan (prompts, tokens,
// FLOPs, memory: hand-computed for the tiny model) and writes nothing; a
// run interrupted after some prompts says how many it resumes.
func TestCalibrateDryRunAndResume(t *testing.T) {
	dir, modelDir, prof := tinyCalibrateSetup(t)
	before, _ := os.ReadFile(prof)
	data := filepath.Join(dir, "alpha.jsonl")
	idDataset(t, data, 1, []int{40, 50, 60, 70, 80}, 64)
	args := []string{"calibrate", "--model", modelDir, "--profile", prof, "--needles=false", "--data", data,
		"--budget", "16", "--window", "4", "--top-k", "2", "--avgs", "32,48", "--max-new", "5", "--parallel-prompts", "2"}

	code, stdout, stderr := runCLI(append(args, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("--dry-run: exit %d: %s", code, stderr)
	}
	// The tiny model: 3 layers of q 32x32, k and v 16x32, o 32x32, gate,
	// up, down 48x32: 23,040 parameters. Prompts of n = 40 .. 80 tokens
	// prefill 2*23040*n + 4*(3 layers x 4 heads x 8 dims)*n(n+1)/2 FLOPs:
	// 13,824,000 + 192*19,300 = 17,529,600, less what the last layer
	// skips: its attention blocks are 128/2 = 64 tokens, so in the prompts
	// of 70 and 80 (one chunk each, more than 4 + 64 rows) rows 0..63 get
	// only k and v, saving 2*(7680 - 1024)*64 = 851,968 matrix FLOPs and
	// 4*4*8*(64*65/2) = 266,240 of attention each: 15,293,184. Each decodes 4 steps (the
	// first of 5 tokens comes from the prefill) at positions n .. n+3:
	// 46,080 + 384*(pos+1) + the 64x32 lm_head's 4,096, 1,483,520 in all.
	// Memory: the weight file, and 2 caches of 84 positions x 3 layers x
	// 2 x 2 KV heads x 8 dims x 4 bytes = 63.0 KB.
	st, err := os.Stat(filepath.Join(modelDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	checkPlanLines(t, stdout,
		"plan: 5 prompts, 300 prompt tokens (longest prefill 80), <= 20 decode steps",
		fmt.Sprintf("plan: 1.53e-05 TFLOP prefill + <= 1.48e-06 TFLOP decode; memory %.1f KB weights (mapped) + 63.0 KB KV caches (2 at once)", float64(st.Size())/1024))
	if after, _ := os.ReadFile(prof); !bytes.Equal(before, after) {
		t.Error("--dry-run rewrote the profile")
	}
	if _, err := os.Stat(prof + ".calibrate.jsonl"); !os.IsNotExist(err) {
		t.Error("--dry-run opened a journal")
	}

	// Interrupted once the run journals its first prompt (one at a time;
	// the plan's measurement journaled the 3 shortest before it), then
	// resumed by the same command.
	out := filepath.Join(dir, "c.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errOut := &cancelOn{text: "calibration prompt ", cancel: cancel}
	opts := &calibrateOptions{Model: modelDir, Profile: prof, Output: out, Data: []string{data}, MaxNew: 5,
		Budget: 16, TopK: 2, Window: 4, Kernel: 5, Pooling: "avg", Averages: []int{32, 48}, Floor: 32, CeilingFactor: 3,
		Resume: true, ParallelPrompts: 1, Runtime: runtimeFlags{Chunk: 512, KVDType: "f32", Rope: "hf", Compute: "f32"}, ctx: ctx}
	if err := runCalibrate(opts, &streams{out: &bytes.Buffer{}, err: errOut}); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: error %v, want interrupted\n%s", err, errOut.buf.String())
	}
	journal, err := os.ReadFile(out + ".calibrate.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	done := strings.Count(string(journal), `"record"`)
	if done < 1 || done >= 5 {
		t.Fatalf("journal holds %d prompts, want 1..4", done)
	}
	code, _, stderr = runCLI(append(args[:len(args)-2], "--parallel-prompts", "1", "-o", out)...)
	if code != exitOK {
		t.Fatalf("resumed run: exit %d: %s", code, stderr)
	}
	checkResumed(t, stderr, done, 3, 5, "prompts", out+".calibrate.jsonl")
}

// checkResumed checks that a resumed run's stderr says how many of total
// items (unit: probes, prompts) its journal held, and that its plan counts
// only those left after the plan's own measurement scored up to measure
// more of them (which it journals for the run).
func checkResumed(t *testing.T, stderr string, done, measure, total int, unit, journal string) {
	t.Helper()
	if want := fmt.Sprintf("resuming: %d of %d %s done (%s)\n", done, total, unit, journal); !strings.Contains(stderr, want) {
		t.Errorf("resumed run's stderr lacks %q:\n%s", want, stderr)
	}
	left := total - done - min(measure, total-done)
	if !strings.Contains(stderr, fmt.Sprintf("plan: %d %s to run, ", left, unit)) {
		t.Errorf("resumed run's plan does not count the %d %s left:\n%s", left, unit, stderr)
	}
}

// TestCalibrateTooSmall: needle lengths that cannot fit the model are
// refused before any prompt is built, --dry-run or not.
func TestCalibrateTooSmall(t *testing.T) {
	modelDir := testshared.Require(t, "models/stories260K-f32")
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.json")
	ranking := make([][]int, 5)
	for l := range ranking {
		ranking[l] = []int{0, 1, 2, 3, 4, 5, 6, 7}
	}
	rankedTestProfile(t, modelDir, prof, ranking)
	code, stdout, stderr := runCLI("calibrate", "--model", modelDir, "--profile", prof, "--needle-lengths", "1000,2000", "--dry-run")
	want := "the model is too small for the built-in needle probes: their 2 context lengths (up to 2000 tokens) less the buffer of 200 + --max-new 32 exceed its context of 512 tokens"
	if code != exitUsage || !strings.Contains(stderr, want) || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d saying %q", code, stdout, stderr, exitUsage, want)
	}
}

// TestPlanGoldens: the plans of profile, calibrate and eval --dry-run on
// the synthetic model, every line but the measured time, against
// testdata/golden/plan (go test -run PlanGoldens -update rewrites them);
// --dry-run writes no output or checkpoint.
func TestPlanGoldens(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.json")
	if code, _, stderr := runCLI("profile", "-o", prof, "--lengths", "256", "--depths", "50"); code != exitOK {
		t.Fatalf("profile: exit %d: %s", code, stderr)
	}
	before, _ := os.ReadFile(prof)
	out := filepath.Join(dir, "out.json")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"profile", []string{"profile", "-o", out, "--lengths", "256,384", "--depths", "0,50,100", "--chunk", "64"}},
		{"calibrate", []string{"calibrate", "--profile", prof, "--needle-lengths", "256,1024", "--needle-depths", "10,90", "--max-new", "8", "--parallel-prompts", "2"}},
		{"eval", []string{"eval", "-o", out, "--methods", "full,streaming,snapkv", "--budgets", "32,64", "--lengths", "256,512", "--depths", "0,50,100", "--needles-count", "1"}},
	} {
		code, stdout, stderr := runCLI(append(tc.args, "--dry-run")...)
		if code != exitOK {
			t.Errorf("%s --dry-run: exit %d: %s", tc.name, code, stderr)
			continue
		}
		var kept []string
		projected := false
		for _, line := range strings.SplitAfter(stdout, "\n") {
			switch {
			case strings.HasPrefix(line, "plan: projected "):
				projected = true
			case strings.HasPrefix(line, "plan: the machine looks loaded"):
			default:
				kept = append(kept, line)
			}
		}
		if !projected {
			t.Errorf("%s --dry-run: no projected time:\n%s", tc.name, stdout)
		}
		golden := filepath.Join("testdata", "golden", "plan", tc.name+".txt")
		got := strings.Join(kept, "")
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s --dry-run plan differs from %s:\n got %q\nwant %q", tc.name, golden, got, want)
		}
		for _, f := range []string{out, out + ".partial.jsonl", prof + ".calibrate.jsonl"} {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Errorf("%s --dry-run wrote %s", tc.name, f)
			}
		}
		if after, _ := os.ReadFile(prof); !bytes.Equal(before, after) {
			t.Errorf("%s --dry-run rewrote the profile", tc.name)
		}
	}
}

// TestEvalResumeLine: an eval interrupted after its first probe says, when
// run again, how many probes it resumes, and plans only the rest.
func TestEvalResumeLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs eval on the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "e.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errOut := &cancelOn{text: "probe ", cancel: cancel} // the run's first probe after the plan's two
	probes := embeddedProbeFlags(t, "probes-synth.yaml")
	probes.Spec.Lengths, probes.Spec.Depths, probes.Spec.NeedlesCount = []int{256, 512}, []float64{0, 50, 100}, 1
	opts := &evalOptions{Output: out, Probes: probes, Methods: []string{"full", "streaming"}, Budgets: []int{32}, MaxNew: 50,
		Window: 8, Kernel: 5, Pooling: "avg", PyramidBeta: 20, Resume: true, getenv: func(string) string { return "" },
		Runtime: runtimeFlags{Chunk: 512, KVDType: "f32", Rope: "hf", Compute: "f32"}, ctx: ctx}
	if err := runEval(opts, &streams{out: &bytes.Buffer{}, err: errOut}); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: error %v, want interrupted\n%s", err, errOut.buf.String())
	}
	journal, err := os.ReadFile(out + ".partial.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	done := strings.Count(string(journal), "\n") - 1 // the header line
	if done < 1 || done >= 6 {
		t.Fatalf("checkpoint holds %d probes, want 1..5:\n%s", done, journal)
	}
	code, _, stderr := runCLI("eval", "-o", out, "--methods", "full,streaming", "--budgets", "32", "--lengths", "256,512", "--depths", "0,50,100", "--needles-count", "1")
	if code != exitOK {
		t.Fatalf("resumed run: exit %d: %s", code, stderr)
	}
	checkResumed(t, stderr, done, 2, 6, "probes", out+".partial.jsonl")
}

// TestInterruptDuringPlan: an interruption while the plan measures (its
// end-to-end prompts are journaled for the run) stops eval and calibrate
// with the message of an interrupted run, not a bare context error.
func TestInterruptDuringPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("runs eval on the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // before the plan's measurement runs its first prompt

	probes := embeddedProbeFlags(t, "probes-synth.yaml")
	probes.Spec.Lengths, probes.Spec.Depths, probes.Spec.NeedlesCount = []int{256}, []float64{0, 100}, 1
	eo := &evalOptions{Output: filepath.Join(t.TempDir(), "e.json"), Probes: probes, Methods: []string{"full"}, Budgets: []int{32}, MaxNew: 20,
		Window: 8, Kernel: 5, Pooling: "avg", PyramidBeta: 20, Resume: true, getenv: func(string) string { return "" },
		Runtime: runtimeFlags{Chunk: 512, KVDType: "f32", Rope: "hf", Compute: "f32"}, ctx: ctx}
	if err := runEval(eo, &streams{out: &bytes.Buffer{}, err: &bytes.Buffer{}}); err == nil || !strings.Contains(err.Error(), "interrupted: 0 probes are saved") {
		t.Errorf("eval interrupted during its plan: %v, want the interrupted run's message", err)
	}

	dir, modelDir, prof := tinyCalibrateSetup(t)
	data := filepath.Join(dir, "alpha.jsonl")
	idDataset(t, data, 1, []int{40, 50, 60}, 64)
	co := &calibrateOptions{Model: modelDir, Profile: prof, Output: filepath.Join(dir, "c.json"), Data: []string{data}, MaxNew: 5,
		Budget: 16, TopK: 2, Window: 4, Kernel: 5, Pooling: "avg", Averages: []int{32, 48}, Floor: 32, CeilingFactor: 3,
		Resume: true, ParallelPrompts: 1, Runtime: runtimeFlags{Chunk: 512, KVDType: "f32", Rope: "hf", Compute: "f32"}, ctx: ctx}
	if err := runCalibrate(co, &streams{out: &bytes.Buffer{}, err: &bytes.Buffer{}}); err == nil || !strings.Contains(err.Error(), "interrupted: finished prompts are saved") {
		t.Errorf("calibrate interrupted during its plan: %v, want the interrupted run's message", err)
	}
}
