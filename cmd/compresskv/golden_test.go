package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

var update = flag.Bool("update", false, "rewrite the golden outputs under testdata/golden from the current code")

// goldenStep is one command of a golden run. Its arguments may name files
// of the run's folder as {dir}/NAME and the model folder as {model}; files
// lists the outputs (under {dir}) compared byte for byte with
// testdata/golden/<run>/<file>, and "stdout" compares the standard output.
type goldenStep struct {
	args  []string
	files []string
}

// goldenRun is a sequence of commands on one model.
type goldenRun struct {
	name  string
	model string // "" for the built-in synthetic model, else a ../shared path
	steps []goldenStep
}

var goldenRuns = []goldenRun{
	{name: "synth", steps: []goldenStep{
		{args: []string{"profile", "-o", "{dir}/profile.json", "--lengths", "256", "--depths", "0,50"}, files: []string{"profile.json"}},
		{args: []string{"profile", "-o", "{dir}/teacher.json", "--lengths", "256", "--depths", "50", "--teacher-forced", "--kv-dtype", "bf16", "--chunk", "64"},
			files: []string{"teacher.json"}},
		{args: []string{"calibrate", "--profile", "{dir}/profile.json", "-o", "{dir}/calibrated.json", "--needle-lengths", "256", "--needle-depths", "10,90",
			"--max-new", "8", "--data", "{dir}/ids.jsonl"}, files: []string{"calibrated.json"}},
		{args: []string{"generate", "--model", "{model}", "--prompt", "The pass code is", "--max-new", "24", "--json", "--logits", "{dir}/logits.safetensors"},
			files: []string{"stdout", "logits.safetensors"}},
		// Every method at a budget that cuts 256-token prompts and one that
		// keeps more of 512-token ones, from the calibrated profile.
		{args: []string{"eval", "--profile", "{dir}/calibrated.json", "-o", "{dir}/eval.json", "--lengths", "256,512", "--depths", "50", "--budgets", "64,128"},
			files: []string{"eval.json"}},
	}},
	{name: "stories260K", model: "models/stories260K-f32", steps: []goldenStep{
		{args: []string{"profile", "--model", "{model}", "-o", "{dir}/profile.json", "--lengths", "160,240", "--depths", "0,50,100",
			"--needles-count", "1", "--buffer", "40", "--max-new", "6", "--template", "raw", "--min-success", "0"}, files: []string{"profile.json"}},
		// No probe passes the recall gate on this model; teacher forcing
		// scores them all, so calibrate gets a ranking with content.
		{args: []string{"profile", "--model", "{model}", "-o", "{dir}/teacher.json", "--lengths", "160,240", "--depths", "0,50,100",
			"--needles-count", "1", "--buffer", "40", "--template", "raw", "--teacher-forced"}, files: []string{"teacher.json"}},
		{args: []string{"calibrate", "--model", "{model}", "--profile", "{dir}/teacher.json", "-o", "{dir}/calibrated.json",
			"--needle-lengths", "160", "--needle-depths", "50", "--max-new", "6", "--data", "{dir}/ids.jsonl"}, files: []string{"calibrated.json"}},
		{args: []string{"generate", "--model", "{model}", "--ids", "1", "--max-new", "40", "--json", "--logits", "{dir}/logits.safetensors"},
			files: []string{"stdout", "logits.safetensors"}},
		{args: []string{"generate", "--model", "{model}", "--prompt", "Once upon a time", "--max-new", "20", "--kv-dtype", "bf16", "--chunk", "3"},
			files: []string{"stdout"}},
	}},
}

// TestGoldenOutputs freezes what profile, calibrate and generate --logits
// write, on the built-in synthetic model and on stories260K, so that a
// refactor of the forward pass or the decode loops is proven byte-identical
// (go test -run TestGoldenOutputs -update rewrites the files after an
// intended change). Every run is made with --threads 1 and with
// --threads 2: both must give the same bytes. The calibration data holds an
// id-level prompt longer than the model context, which is cut in the middle.
func TestGoldenOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the models end to end; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	defer func(v string) { version = v }(version)
	version = "golden" // the profile records the tool version
	for _, run := range goldenRuns {
		t.Run(run.name, func(t *testing.T) {
			modelDir := ""
			if run.model != "" {
				modelDir = testshared.Require(t, run.model)
			} else {
				dir, cleanup, err := syntheticModelDir()
				if err != nil {
					t.Fatal(err)
				}
				defer cleanup()
				modelDir = dir
			}
			outputs := map[int]map[string][]byte{} // threads -> name -> bytes
			for _, threads := range []int{1, 2} {
				dir := t.TempDir()
				// One short prompt and one longer than either model's
				// context (512 tokens), ids below both vocabularies.
				idDataset(t, filepath.Join(dir, "ids.jsonl"), 7, []int{40, 600}, 256)
				got := map[string][]byte{}
				for i, step := range run.steps {
					args := make([]string, len(step.args), len(step.args)+2)
					for j, a := range step.args {
						args[j] = strings.NewReplacer("{dir}", dir, "{model}", modelDir).Replace(a)
					}
					args = append(args, "--threads", fmt.Sprint(threads))
					code, stdout, stderr := runCLI(args...)
					if code != exitOK {
						t.Fatalf("threads %d, step %d %v: exit %d: %s", threads, i, step.args[0], code, stderr)
					}
					for _, f := range step.files {
						key := fmt.Sprintf("%d-%s-%s", i, step.args[0], f)
						if f == "stdout" {
							got[key] = []byte(strings.ReplaceAll(stdout, dir, "{dir}"))
							continue
						}
						data, err := os.ReadFile(filepath.Join(dir, f))
						if err != nil {
							t.Fatal(err)
						}
						got[key] = data
					}
				}
				outputs[threads] = got
			}
			for key, data := range outputs[1] {
				if !bytes.Equal(data, outputs[2][key]) {
					t.Errorf("%s: --threads 1 and --threads 2 differ", key)
				}
				path := filepath.Join("testdata", "golden", run.name, key)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, data, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(data, want) {
					t.Errorf("%s differs from %s (%d bytes, want %d)", key, path, len(data), len(want))
				}
			}
		})
	}
}
