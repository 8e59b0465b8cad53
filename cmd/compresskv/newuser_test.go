package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/profile/schema"
)

// TestNewUserSession is the first hour of a researcher who just cloned the
// repository, as issue "First contact" lists it, driven through the
// commands without a terminal: a checkpoint folder (the built-in model
// written out, as a download would be), quickstart on it, a profile whose
// probes all fail, the figures, help, inspect, templates, prompt lengths,
// the command-line conventions and the docs. The progress bar under a
// pseudo-terminal is TestProgressBarOnTerminal.
func TestNewUserSession(t *testing.T) {
	if testing.Short() {
		t.Skip("runs quickstart on a model folder; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	work := t.TempDir()
	modelDir := filepath.Join(work, "model")
	if code, _, errOut := runCLI("synth", "--out", modelDir); code != exitOK {
		t.Fatalf("synth: exit %d: %s", code, errOut)
	}

	// 1. quickstart on a real model folder runs the quick grid, and says so
	// in a line that replays it; 10. on the embedded real-text haystack.
	out := filepath.Join(work, "out")
	code, stdout, errOut := runCLI("quickstart", "--model", modelDir, "--dir", out)
	if code != exitOK {
		t.Fatalf("quickstart --model: exit %d\n%s\n%s", code, stdout, errOut)
	}
	if want := "$ compresskv profile -o " + filepath.Join(out, "profile.json") + " --model " + modelDir + " --quick\n"; !strings.Contains(stdout, want) {
		t.Errorf("quickstart does not echo %q:\n%s", want, stdout)
	}
	p, err := schema.ReadFile(filepath.Join(out, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Probes.Results) + p.Probes.Skipped; got != 40 || p.Probes.Haystack != "tolstoy" {
		t.Errorf("quickstart profile: %d probes on haystack %q, want the quick grid's 40 on tolstoy", got, p.Probes.Haystack)
	}

	// 3. The figure is drawn (its panels are checked in profile/figure).
	if st, err := os.Stat(filepath.Join(out, "heads.png")); err != nil || st.Size() < 10000 {
		t.Errorf("heads.png: %v", err)
	}

	// 4. --help shows the YAML defaults (more in TestHelpShowsEmbeddedDefaults).
	if _, help, _ := runCLI("profile", "--help"); !strings.Contains(help, "(default 1000; --quick: 256; built-in model: 256)") {
		t.Error("profile --help does not show the grid defaults")
	}

	// 5. inspect says why probes were skipped.
	skipped := filepath.Join(work, "skipped.json")
	if code, _, errOut := runCLI("profile", "--model", modelDir, "--quick", "--lengths", "60,256", "--depths", "50", "--buffer", "50", "-o", skipped); code != exitOK {
		t.Fatalf("profile with a too-short length: exit %d: %s", code, errOut)
	}
	if _, stdout, _ := runCLI("inspect", skipped); !regexp.MustCompile(`2 skipped \(.*context length 60 leaves no room for haystack`).MatchString(stdout) {
		t.Errorf("inspect does not give the skip reasons:\n%s", stdout)
	}

	// 6. Templates that do not fit the tokenizer are named.
	if _, _, errOut := runCLI("probes", "--tokenizer", modelDir, "--quick", "--template", "llama3"); !strings.Contains(errOut, "warning: --template llama3 uses <|start_header_id|>") {
		t.Errorf("--template llama3 on the synthetic tokenizer: no warning in %q", errOut)
	}
	if _, _, errOut := runCLI("probes", "--tokenizer", modelDir, "--quick", "--template", "auto"); !strings.Contains(errOut, "warning: --template auto: the tokenizer has no chat_template") {
		t.Errorf("--template auto without a chat template: no warning in %q", errOut)
	}

	// 7. The prompt-length rule is documented where the lengths are set.
	if _, help, _ := runCLI("probes", "--help"); !strings.Contains(help, "shorter or longer\nthan its context length") {
		t.Error("probes --help does not explain why prompts are longer than their context length")
	}

	// 8. Conventions: positional files, --avg, --version, missing arguments.
	if code, stdout, errOut := runCLI("budget", filepath.Join(out, "profile.json"), "--avg", "128", "--json"); code != exitOK || !strings.Contains(stdout, `"average": 128`) {
		t.Errorf("budget PROFILE --avg: exit %d %s %s", code, stdout, errOut)
	}
	if code, _, errOut := runCLI("plot", filepath.Join(out, "profile.json"), "--avg", "128", "-o", filepath.Join(work, "h.svg")); code != exitOK {
		t.Errorf("plot --avg: exit %d %s", code, errOut)
	}
	if code, stdout, _ := runCLI("--version"); code != exitOK || !strings.HasPrefix(stdout, "compresskv 0.1.0-dev (commit ") {
		t.Errorf("--version: exit %d %q", code, stdout)
	}
	if code, _, errOut := runCLI("inspect"); code != exitUsage || !strings.Contains(errOut, "inspect needs PROFILE") {
		t.Errorf("inspect without a file: exit %d %q", code, errOut)
	}
	teacher := filepath.Join(work, "teacher.json")
	if code, _, errOut := runCLI("profile", "--model", modelDir, "--quick", "--lengths", "256", "--depths", "50", "--teacher-forced", "-o", teacher); code != exitOK {
		t.Fatalf("teacher-forced profile: exit %d %s", code, errOut)
	}
	if code, stdout, errOut := runCLI("diff", skipped, teacher, "--json"); code != exitOK || !json.Valid([]byte(stdout)) || !strings.Contains(errOut, "warning") {
		t.Errorf("diff greedy vs teacher-forced --json: exit %d, stdout valid JSON %v, stderr %q; want JSON and a warning", code, json.Valid([]byte(stdout)), errOut)
	}

	// 9. The docs say what happens.
	readme := readRepoFile(t, "README.md")
	for _, want := range []string{"first run compiles", "go test -v"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not say %q", want)
		}
	}
	if strings.Contains(readRepoFile(t, "configs/probes-quick.yaml"), "takes seconds") {
		t.Error("configs/probes-quick.yaml still says a real model's quick run takes seconds")
	}
	if _, help, _ := runCLI("generate", "--help"); strings.Contains(help, "models/stories260K") {
		t.Error("generate --help examples use a folder users do not have")
	}
	// Every file docs/performance.md names is in the repository.
	for _, m := range regexp.MustCompile("`([a-z_/]+\\.(?:go|s|md|yaml))`").FindAllStringSubmatch(readRepoFile(t, "docs/performance.md"), -1) {
		if _, err := os.Stat(filepath.Join("..", "..", m[1])); err != nil {
			t.Errorf("docs/performance.md cites %s, which is not in the repository", m[1])
		}
	}
}

// TestNewUserNoSuccessfulProbe: 2. a profile on which no probe passed the
// recall gate is written, but profile exits 1 saying so; calibrate and
// export refuse it; inspect and plot warn. stories260K is a real
// checkpoint too small to retrieve a needle.
func TestNewUserNoSuccessfulProbe(t *testing.T) {
	model := testshared.Require(t, "models/stories260K-f32")
	work := t.TempDir()
	zero := filepath.Join(work, "zero.json")
	code, _, errOut := runCLI("profile", "--model", model, "-o", zero, "--lengths", "160", "--depths", "0,50",
		"--needles-count", "1", "--buffer", "40", "--max-new", "6", "--template", "raw")
	if code != exitFailure || !strings.Contains(errOut, "was written, but none of the 2 probes passed the recall gate") {
		t.Fatalf("profile with no successful probe: exit %d, stderr %q; want exit 1 saying so", code, errOut)
	}
	if _, err := schema.ReadFile(zero); err != nil {
		t.Fatalf("the profile was not kept: %v", err)
	}
	if code, _, errOut := runCLI("calibrate", "--model", model, "--profile", zero, "-o", filepath.Join(work, "c.json")); code != exitFailure || !strings.Contains(errOut, "calibrating on that ranking") {
		t.Errorf("calibrate: exit %d, stderr %q; want a refusal", code, errOut)
	}
	if code, _, errOut := runCLI("export", zero, "--format", "ref", "-o", filepath.Join(work, "ref")); code != exitFailure || !strings.Contains(errOut, "arbitrary head pattern") {
		t.Errorf("export: exit %d, stderr %q; want a refusal", code, errOut)
	}
	if code, stdout, errOut := runCLI("inspect", zero); code != exitOK || !strings.Contains(stdout, "WARNING: none of the 2 probes") || !strings.Contains(errOut, "warning") {
		t.Errorf("inspect: exit %d, stdout %q, stderr %q; want a warning in both", code, stdout, errOut)
	}
	if code, _, errOut := runCLI("plot", zero, "-o", filepath.Join(work, "z.png")); code != exitOK || !strings.Contains(errOut, "warning") {
		t.Errorf("plot: exit %d, stderr %q; want a warning", code, errOut)
	}
	// --min-success 0 takes the user's word for it.
	if code, _, errOut := runCLI("profile", "--model", model, "-o", filepath.Join(work, "ok.json"), "--lengths", "160", "--depths", "0,50",
		"--needles-count", "1", "--buffer", "40", "--max-new", "6", "--template", "raw", "--min-success", "0"); code != exitOK {
		t.Errorf("profile --min-success 0: exit %d %s", code, errOut)
	}
}

// readRepoFile reads a file relative to the repository root.
func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
