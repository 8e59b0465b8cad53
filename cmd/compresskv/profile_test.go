package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestProfileUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"profile", "--shard", "3/2"}, "0 <= index < count"},
		{[]string{"profile", "--shard", "x"}, "want i/n"},
		{[]string{"profile", "--max-new", "0"}, "--max-new 0"},
		{[]string{"merge"}, "requires at least 1 arg"},
	}
	for _, tc := range tests {
		code, _, stderr := runCLI(tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

func TestProfileShardFromEnvNeedsCount(t *testing.T) {
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	code, _, stderr := runCLI("profile")
	if code != exitUsage || !strings.Contains(stderr, "--shards") {
		t.Fatalf("exit %d, stderr %q; want a usage error asking for --shards", code, stderr)
	}
}

// mergeFixture writes two finished shard files of a 2-layer, 2-head run.
func mergeFixture(t *testing.T, dir string) (paths []string, want []byte) {
	t.Helper()
	h := profile.Header{
		Tool:    schema.Tool{Name: "compresskv", Version: "test"},
		Model:   schema.Model{Architecture: "llama", Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 4, Fingerprint: "sha256:x"},
		Probes:  schema.ProbeInfo{Scoring: "greedy", MaxNewTokens: 50, SuccessRecall: 0.5, SkipReasons: map[string]int{}},
		Indices: []int{0, 1, 2},
	}
	var records []profile.Record
	for i := 0; i < 3; i++ {
		records = append(records, profile.Record{
			Index:     i,
			Result:    schema.ProbeResult{Index: i, Response: "a", Recall: 1, Success: true},
			SRH:       [][]float64{{float64(i) / 3, 1}, {0.5, 0}},
			Retrieval: [][]float64{{0, 0.25}, {1.0 / 3, 0}},
		})
	}
	p, err := profile.Build(&h, records)
	if err != nil {
		t.Fatal(err)
	}
	if want, err = schema.Marshal(p); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 2; k++ {
		hs := h
		hs.Shard = profile.Shard{Index: k, Count: 2}
		path := filepath.Join(dir, fmt.Sprintf("p.json.shard-%d-of-2.jsonl", k))
		c, err := profile.OpenCheckpoint(path, hs, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			if hs.Shard.Has(r.Index) {
				if err := c.Append(r); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := c.Finish(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths, want
}

func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	paths, want := mergeFixture(t, dir)
	out := filepath.Join(dir, "merged.json")
	ref := filepath.Join(dir, "ref")
	code, stdout, stderr := runCLI(append([]string{"merge", "-o", out, "--export-reference", ref}, paths...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("merged profile differs from the single-run build:\n%s", got)
	}
	if !strings.Contains(stdout, "3 probes run, 3 successful, 0 skipped") {
		t.Errorf("summary: %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(ref, schema.ReferenceHeadFile)); err != nil {
		t.Errorf("--export-reference: %v", err)
	}
	code, _, stderr = runCLI("merge", "-o", out, paths[0])
	if code != exitFailure || !strings.Contains(stderr, "missing probe indices [1]") {
		t.Errorf("merge of one shard: exit %d, stderr %q", code, stderr)
	}
}

// TestProfileCommandStories runs `profile` end to end on the stories260K
// checkpoint with a tiny grid, interrupted by nothing: it must write a
// valid profile and remove its checkpoint.
func TestProfileCommandStories(t *testing.T) {
	model := testshared.Require(t, "models/stories260K-f32")
	dir := t.TempDir()
	out := filepath.Join(dir, "p.json")
	code, stdout, stderr := runCLI("profile", "--model", model, "-o", out, "--lengths", "160,240", "--depths", "0,50,100",
		"--needles-count", "1", "--buffer", "40", "--max-new", "6", "--template", "raw", "--json", "--min-success", "0")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := schema.Unmarshal(data, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(p); err != nil {
		t.Fatal(err)
	}
	if p.Probes.Run+p.Probes.Skipped != 6 || p.Probes.MaxNewTokens != 6 || p.Model.Layers != 5 {
		t.Fatalf("run %d + skipped %d, want 6 probes; max_new %d", p.Probes.Run, p.Probes.Skipped, p.Probes.MaxNewTokens)
	}
	if _, err := os.Stat(out + ".partial.jsonl"); !os.IsNotExist(err) {
		t.Errorf("checkpoint left behind after a successful run: %v", err)
	}
	if !strings.Contains(stdout, `"run": `) {
		t.Errorf("--json summary: %q", stdout)
	}
}

// TestGridDefaults: flags not given come from the embedded grid (the quick
// one without --model); what the command line gave, under a flag or its
// alias, stays; YAML lists fill list flags; defaults do not count as given.
func TestGridDefaults(t *testing.T) {
	cmd := newRootCommand(&streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}})
	tests := []struct {
		command string
		args    []string
		file    string
		want    map[string]string
	}{
		{"profile", []string{"--needle-count", "5", "--max-length", "2048"}, probeGridFile(false, true),
			map[string]string{"needles-count": "5", "max-length": "2048", "min-length": "256", "buffer": "50", "template": "answer-prefix", "lengths": "[]"}},
		{"probes", []string{"--depths", "10,20"}, probeGridFile(false, false),
			map[string]string{"depths": "[10.000000,20.000000]", "max-length": "31500", "intervals": "20", "needles-count": "3", "template": "raw", "add-special": "true"}},
		{"calibrate", []string{"--needle-depths", "5"}, "calibrate.yaml",
			map[string]string{"needle-lengths": "[256,512,1024]", "needle-depths": "[5.000000]", "avgs": "[64,128,256,512,1024,2048]", "needle-template": "raw", "seed": "101", "pooling": "avg"}},
	}
	for _, tc := range tests {
		sub, _, err := cmd.Find([]string{tc.command})
		if err != nil {
			t.Fatal(err)
		}
		f := sub.Flags()
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := applyEmbeddedDefaults(f, tc.file); err != nil {
			t.Fatal(err)
		}
		for name, want := range tc.want {
			if got := f.Lookup(name).Value.String(); got != want {
				t.Errorf("%s: --%s = %s, want %s", tc.command, name, got, want)
			}
		}
		if f.Changed("min-length") || f.Changed("needle-lengths") {
			t.Errorf("%s: an embedded default counts as given", tc.command)
		}
	}
}

// TestProfileReport: --report gets one line per probe run, with the
// profile's own result and a positive tokens/s, while the profile keeps no
// timing.
func TestProfileReport(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	out, rep := filepath.Join(dir, "p.json"), filepath.Join(dir, "report.jsonl")
	if code, _, errOut := runCLI("profile", "-o", out, "--report", rep, "--lengths", "256", "--depths", "0,50", "--chunk", "64"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p, err := schema.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != p.Probes.Run {
		t.Fatalf("%d report lines for %d probes run", len(lines), p.Probes.Run)
	}
	// Lines come in run order (prefix order with --prefix-reuse).
	results := map[int]schema.ProbeResult{}
	for _, r := range p.Probes.Results {
		results[r.Index] = r
	}
	reused := 0
	for i, line := range lines {
		var r probeReportLine
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if r.ProbeResult != results[r.Index] || r.TokensPerSecond <= 0 || r.FedTokens+r.ReusedTokens < r.Tokens || r.ReusedTokens > r.Tokens-1 {
			t.Errorf("line %d = %+v, profile has %+v", i+1, r, results[r.Index])
		}
		reused += r.ReusedTokens
		delete(results, r.Index)
	}
	if len(results) > 0 {
		t.Errorf("probes without a report line: %v", results)
	}
	if reused == 0 {
		t.Error("no prompt position was reused")
	}
	if strings.Contains(mustRead(t, out), "per_second") {
		t.Error("the profile holds a timing")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestWarnIfUninformative(t *testing.T) {
	for _, tc := range []struct {
		run, ok int
		want    string
	}{
		{10, 0, ""}, // checkMinSuccess reports this one, as an error
		{10, 4, "note: only 4 of 10 probes passed"},
		{10, 5, ""},
		{0, 0, ""},
	} {
		var buf bytes.Buffer
		p := &schema.Profile{Probes: schema.ProbeInfo{Run: tc.run, Successful: tc.ok}}
		warnIfUninformative(&buf, p)
		if got := buf.String(); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%d of %d successful: stderr %q, want %q", tc.ok, tc.run, got, tc.want)
		}
	}
}

// TestProfileRuntimeSettings: --kv-dtype, --chunk and --rope are recorded
// in the profile, and a checkpoint written with another KV cache or RoPE
// arithmetic is not resumed.
func TestProfileRuntimeSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "p.json")
	grid := []string{"--lengths", "256", "--depths", "0,50"}
	if code, _, errOut := runCLI(append([]string{"profile", "-o", out, "--kv-dtype", "bf16", "--chunk", "64", "--rope", "exact"}, grid...)...); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p, err := schema.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Probes.KVCache != "bf16" || p.Probes.PrefillChunk != 64 || p.Probes.Rope != "exact" {
		t.Errorf("recorded kv_cache %q, prefill_chunk %d, rope %q; want bf16, 64, exact", p.Probes.KVCache, p.Probes.PrefillChunk, p.Probes.Rope)
	}
	if code, _, errOut := runCLI(append([]string{"profile", "-o", out}, grid...)...); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if p, err = schema.ReadFile(out); err != nil || p.Probes.Rope != "hf" {
		t.Errorf("default run: rope %q (%v), want hf", p.Probes.Rope, err)
	}
	// A shard file (kept on disk, like a checkpoint) of a bf16 run is not
	// resumed by an f32 run of the same shard.
	shardArgs := append([]string{"profile", "-o", out, "--shard", "0/2"}, grid...)
	if code, _, errOut := runCLI(append(shardArgs, "--kv-dtype", "bf16")...); code != exitOK {
		t.Fatalf("bf16 shard: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(append(shardArgs, "--kv-dtype", "f32")...); code != exitFailure || !strings.Contains(errOut, "checkpoint was written with --kv-dtype bf16, this run has --kv-dtype f32") {
		t.Errorf("f32 run over a bf16 shard file: exit %d, stderr %q; want a refusal naming --kv-dtype", code, errOut)
	}
	if code, _, errOut := runCLI(append(shardArgs, "--kv-dtype", "bf16", "--rope", "exact")...); code != exitFailure || !strings.Contains(errOut, "checkpoint was written with --rope hf, this run has --rope exact") {
		t.Errorf("--rope exact run over an hf shard file: exit %d, stderr %q; want a refusal naming --rope", code, errOut)
	}
	if code, _, errOut := runCLI("profile", "-o", out, "--kv-dtype", "f16"); code != exitUsage || !strings.Contains(errOut, `--kv-dtype: KV cache dtype "f16" is not supported`) {
		t.Errorf("--kv-dtype f16: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI("profile", "-o", out, "--rope", "float64"); code != exitUsage || !strings.Contains(errOut, `--rope "float64": want hf or exact`) {
		t.Errorf("--rope float64: exit %d, stderr %q", code, errOut)
	}
}

// TestProfilePrefixReuseFlag: the built-in model's profile is the same
// bytes with and without --prefix-reuse, on one and two threads.
func TestProfilePrefixReuseFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	var want string
	for _, args := range [][]string{
		{"--prefix-reuse=false", "--threads", "1"},
		{"--threads", "1"},
		{"--prefix-reuse=false", "--threads", "2"},
		{"--threads", "2"},
	} {
		out := filepath.Join(dir, strings.Join(args, "")+".json")
		all := append([]string{"profile", "-o", out, "--lengths", "256,384", "--depths", "0,50,100", "--chunk", "64"}, args...)
		if code, _, errOut := runCLI(all...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		got := mustRead(t, out)
		if want == "" {
			want = got
		} else if got != want {
			t.Fatalf("%v: the profile differs from --prefix-reuse=false --threads 1", args)
		}
	}
}

func TestProfileUntilStableUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"profile", "--until-stable", "1.5"}, "--until-stable 1.5"},
		{[]string{"profile", "--until-stable", "0.9", "--stable-window", "0"}, "--stable-window 0"},
		{[]string{"profile", "--until-stable", "0.9", "--shard", "1/2"}, "--until-stable needs the whole grid"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}

// TestProfileDryRun prints the plan and writes nothing; a grid longer than
// the model's context is refused before any prompt is built.
func TestProfileDryRun(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "p.json")
	code, stdout, stderr := runCLI("profile", "--dry-run", "-o", out, "--lengths", "256,384", "--depths", "0,50,100", "--chunk", "64")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"plan: 12 probes, ", "prefilled after prefix reuse", "<= 600 decode steps", "TFLOP prefill", "KV cache", "plan: projected "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("--dry-run wrote the profile")
	}
	if _, err := os.Stat(out + ".partial.jsonl"); err == nil {
		t.Error("--dry-run opened a checkpoint")
	}

	dir := testshared.Require(t, "models/stories260K-f32")
	code, _, stderr = runCLI("profile", "--dry-run", "--model", dir, "-o", out, "--min-length", "1000", "--max-length", "31500", "--intervals", "20")
	if code != exitUsage || !strings.Contains(stderr, "the model is too small for this grid: 20 of 20 context lengths (up to 31500 tokens) + 50 new tokens exceed its context of 512 tokens") {
		t.Errorf("exit %d, stderr %q; want the grid refused", code, stderr)
	}
}

// TestProfileComputeBF16: --compute bf16 is recorded as probes.compute and
// refused by a resume of an f32 run; f32 leaves the field out (older files
// and the golden profiles stay byte-identical); a bad value is a usage error.
func TestProfileComputeBF16(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "p.json")
	grid := []string{"--lengths", "256", "--depths", "0,50"}
	if code, _, errOut := runCLI(append([]string{"profile", "-o", out, "--compute", "bf16"}, grid...)...); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p, err := schema.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Probes.Compute != "bf16" {
		t.Errorf("recorded compute %q, want bf16", p.Probes.Compute)
	}
	wantArith := "2026-12-02"
	if kernels.HasAMX() { // AMX tiles round their sums their own way
		wantArith += "+amx"
	}
	if p.Tool.Arithmetic != wantArith {
		t.Errorf("recorded bf16 arithmetic %q, want %s", p.Tool.Arithmetic, wantArith)
	}
	shardArgs := append([]string{"profile", "-o", out, "--shard", "0/2"}, grid...)
	if code, _, errOut := runCLI(append(shardArgs, "--compute", "bf16")...); code != exitOK {
		t.Fatalf("bf16 shard: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(shardArgs...); code != exitFailure || !strings.Contains(errOut, "checkpoint was written with --compute bf16, this run has --compute (none)") {
		t.Errorf("f32 run over a bf16 shard file: exit %d, stderr %q; want a refusal naming --compute", code, errOut)
	}
	if kernels.HasAMX() {
		// --amx=false: VDPBF16PS's bits, refused over the AMX shard file
		// and recorded without "+amx"; the next run's default turns AMX
		// back on.
		if code, _, errOut := runCLI(append(shardArgs, "--compute", "bf16", "--amx=false")...); code != exitFailure || !strings.Contains(errOut, "multiplied on Intel AMX tiles") {
			t.Errorf("--amx=false over an AMX shard file: exit %d, stderr %q; want a refusal naming AMX", code, errOut)
		}
		plain := filepath.Join(t.TempDir(), "p.json")
		if code, _, errOut := runCLI(append([]string{"profile", "-o", plain, "--compute", "bf16", "--amx=false"}, grid...)...); code != exitOK {
			t.Fatalf("--amx=false: exit %d: %s", code, errOut)
		}
		pp, err := schema.ReadFile(plain)
		if err != nil {
			t.Fatal(err)
		}
		if pp.Tool.Arithmetic != "2026-12-02" {
			t.Errorf("--amx=false recorded %q, want 2026-12-02", pp.Tool.Arithmetic)
		}
		if !kernels.SetAMX(true) {
			t.Error("AMX did not come back on")
		}
	}
	for _, args := range [][]string{{"profile"}, {"generate", "--model", "nowhere", "--prompt", "hi"}} {
		if code, _, errOut := runCLI(append(args, "--compute", "f16")...); code != exitUsage || !strings.Contains(errOut, `--compute "f16": want f32 or bf16`) {
			t.Errorf("%s --compute f16: exit %d, stderr %q", args[0], code, errOut)
		}
	}
}

func TestProfileResumeRefusesEditedInputFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	out := filepath.Join(dir, "p.json")
	haystack := filepath.Join(dir, "hay.txt")
	needles := filepath.Join(dir, "needles.jsonl")
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(haystack, needle.GenerateHaystack(3, 4000))
	n := needle.GenerateNeedles(1, 1)[0]
	line := func(question string) string {
		data, _ := json.Marshal(map[string]string{"needle": n.Needle, "question": question, "real_needle": n.Answer})
		return string(data) + "\n"
	}
	write(needles, line(n.Question))
	// A shard file stays on disk like a checkpoint of an interrupted run.
	args := []string{"profile", "-o", out, "--shard", "0/2", "--lengths", "256", "--depths", "0,50", "--haystack", haystack, "--needles", needles}
	if code, _, errOut := runCLI(args...); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	shard := out + ".shard-0-of-2.jsonl"
	before, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	write(haystack, needle.GenerateHaystack(4, 4000))
	if code, _, errOut := runCLI(args...); code != exitFailure || !strings.Contains(errOut, "checkpoint was written with --haystack content sha256:") {
		t.Errorf("resume after the haystack changed: exit %d, stderr %q", code, errOut)
	}
	write(haystack, needle.GenerateHaystack(3, 4000))
	write(needles, line("Quick: "+n.Question))
	if code, _, errOut := runCLI(args...); code != exitFailure || !strings.Contains(errOut, "checkpoint was written with --needles content sha256:") {
		t.Errorf("resume after the needles changed: exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(shard); !bytes.Equal(before, after) {
		t.Error("a refused resume changed the shard file")
	}
	// With the files as they were, the shard resumes.
	write(needles, line(n.Question))
	if code, _, errOut := runCLI(args...); code != exitOK {
		t.Errorf("resume with the original files: exit %d, stderr %q", code, errOut)
	}
}

// TestProfileCompatReference: --compat reference is recorded, never skips
// a probe, and refuses the synthetic model's answer-prefix template.
func TestProfileCompatReference(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "p.json")
	grid := []string{"profile", "-o", out, "--lengths", "256", "--depths", "0,50", "--compat", "reference"}
	if code, _, errOut := runCLI(grid...); code != exitUsage || !strings.Contains(errOut, "answer-prefix is not the reference's") {
		t.Errorf("answer-prefix template: exit %d, stderr %q; want a usage error", code, errOut)
	}
	if code, _, errOut := runCLI(append(grid, "--template", "raw")...); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p, err := schema.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if p.Probes.Compat != "reference" || p.Probes.Skipped != 0 || p.Probes.Run != 2*p.Probes.NeedleCount {
		t.Errorf("probes: compat %q, %d run, %d skipped for %d needles x 2 positions", p.Probes.Compat, p.Probes.Run, p.Probes.Skipped, p.Probes.NeedleCount)
	}
}

// TestProfileRefusesAnotherModelsWeights: two checkpoints of the same
// shapes that differ in one weight byte (a fine-tune) have different
// fingerprints, so a shard file (a checkpoint) of one is not resumed with
// the other, and shards of the two do not merge; both refusals name the
// model fingerprint and leave the files as they were.
func TestProfileRefusesAnotherModelsWeights(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles the synthetic model; skipped with -short")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	synthDir, cleanup, err := syntheticModelDir()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	dir := t.TempDir()
	modelA, modelB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, m := range []string{modelA, modelB} {
		if err := os.CopyFS(m, os.DirFS(synthDir)); err != nil {
			t.Fatal(err)
		}
	}
	weights := filepath.Join(modelB, "model.safetensors")
	data, err := os.ReadFile(weights)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-4] ^= 1 // the low mantissa byte of a value of the last tensor
	if err := os.WriteFile(weights, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p.json")
	shard := func(model, shard string) []string {
		return []string{"profile", "--model", model, "-o", out, "--shard", shard, "--lengths", "256", "--depths", "0,50"}
	}
	if code, _, errOut := runCLI(shard(modelA, "0/2")...); code != exitOK {
		t.Fatalf("shard 0 of model a: exit %d: %s", code, errOut)
	}
	shard0 := out + ".shard-0-of-2.jsonl"
	before, err := os.ReadFile(shard0)
	if err != nil {
		t.Fatal(err)
	}
	part, err := profile.ReadPartial(shard0)
	if err != nil {
		t.Fatal(err)
	}
	fpA := part.Header.Model.Fingerprint
	code, _, errOut := runCLI(shard(modelB, "0/2")...)
	const note = " (another model: config.json or the bytes of a weight file differ)"
	if code != exitFailure || !strings.Contains(errOut, "checkpoint was written with model fingerprint "+fpA+", this run has model fingerprint sha256:") || !strings.Contains(errOut, note+"; rerun with --resume=false") {
		t.Fatalf("resume with model b: exit %d, stderr %q; want a refusal naming the model fingerprint %s", code, errOut, fpA)
	}
	if after, _ := os.ReadFile(shard0); !bytes.Equal(before, after) {
		t.Error("the refused resume changed the shard file")
	}
	if code, _, errOut := runCLI(shard(modelB, "1/2")...); code != exitOK {
		t.Fatalf("shard 1 of model b: exit %d: %s", code, errOut)
	}
	shard1 := out + ".shard-1-of-2.jsonl"
	code, _, errOut = runCLI("merge", "-o", out, shard0, shard1)
	if code != exitFailure || !strings.Contains(errOut, "written with model fingerprint "+fpA+" and model fingerprint sha256:") || !strings.Contains(errOut, note+"; only shards of the same run merge") {
		t.Fatalf("merge of shards of models a and b: exit %d, stderr %q; want a refusal naming the model fingerprints", code, errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused merge wrote %s: %v", out, err)
	}
}

func TestSavedProbes(t *testing.T) {
	for n, want := range map[int]string{0: "0 probes are saved", 1: "1 probe is saved", 3: "3 probes are saved"} {
		if got := savedProbes(n); got != want {
			t.Errorf("savedProbes(%d) = %q, want %q", n, got, want)
		}
	}
}
