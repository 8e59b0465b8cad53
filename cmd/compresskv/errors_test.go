package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneLineErrors: what a user gets wrong most often is reported as one
// line on stderr naming the problem, with exit code 2 (how the command was
// called) or 1 (what a file holds), and never a stack trace.
func TestOneLineErrors(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the synthetic model's cache
	dir := t.TempDir()
	write := func(name, data string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	missing := filepath.Join(dir, "no-such-model")
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	gpt2 := filepath.Dir(write("gpt2/config.json", `{"model_type": "gpt2", "hidden_size": 8, "intermediate_size": 8,
		"num_hidden_layers": 1, "num_attention_heads": 1, "vocab_size": 8}`))
	notDir := write("weights.bin", "x")
	otherSchema := write("other.json", `{"schema": "someone-else/v3", "heads": {}}`)
	noSchema := write("plain.json", `{"model": {"layers": 2}}`)
	hugeHeads := write("huge.json", `{"schema": "compresskv.profile/v1", "model": {"architecture": "llama", "layers": 2, "heads": 1000000000, "kv_heads": 1, "head_dim": 8}}`)
	shardFile := write("shard.jsonl", "shard bytes\n")
	shardLink := filepath.Join(dir, "link.json")
	if err := os.Link(shardFile, shardLink); err != nil {
		t.Fatal(err)
	}
	noLengths := write("no-lengths.yaml", "calibrate:\n  needle-lengths: []\n")

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing model folder", []string{"profile", "--model", missing}, exitUsage, "--model " + missing + ": no such folder"},
		{"model is a file", []string{"profile", "--model", notDir}, exitUsage, "weights.bin: not a folder"},
		{"folder without config.json", []string{"profile", "--model", empty}, exitUsage, "--model " + empty + ": no config.json in this folder"},
		{"unsupported architecture", []string{"profile", "--model", gpt2}, exitFailure, `model_type "gpt2" is not supported (supported: llama, mistral, qwen2)`},
		{"generate: folder without config.json", []string{"generate", "--model", empty, "--ids", "1"}, exitUsage, "no config.json in this folder"},
		{"generate: unsupported architecture", []string{"generate", "--model", gpt2, "--ids", "1"}, exitFailure, `model_type "gpt2" is not supported`},
		{"inspect: wrong schema", []string{"inspect", otherSchema}, exitFailure, `other.json: schema "someone-else/v3" is not compresskv.profile/v1`},
		{"inspect: no schema", []string{"inspect", noSchema}, exitFailure, `plain.json: no "schema" field`},
		{"plot: wrong schema", []string{"plot", otherSchema, "-o", filepath.Join(dir, "f.png")}, exitFailure, `schema "someone-else/v3" is not compresskv.profile/v1`},
		{"budget: wrong schema", []string{"budget", "--profile", otherSchema, "--avg", "64"}, exitFailure, `schema "someone-else/v3" is not compresskv.profile/v1`},
		{"calibrate: wrong schema", []string{"calibrate", "--profile", otherSchema, "--model", gpt2}, exitFailure, `schema "someone-else/v3" is not compresskv.profile/v1`},
		{"diff: 1e9 heads", []string{"diff", hugeHeads, hugeHeads}, exitFailure, "huge.json: profile: model: layers 2, heads 1000000000, kv_heads 1, head_dim 8: implausibly large"},
		{"diff: wrong schema", []string{"diff", otherSchema, hugeHeads}, exitFailure, `other.json: schema "someone-else/v3" is not compresskv.profile/v1`},
		{"profile: a billion needles", []string{"profile", "-o", filepath.Join(dir, "p.json"), "--needles-count", "1000000000"}, exitUsage, "--needles-count: generated needles: count 1000000000, want 1..100000"},
		{"probes: a billion needles", []string{"probes", "--tokenizer", dir, "--needles-count", "1000000000"}, exitUsage, "--needles-count: generated needles: count 1000000000, want 1..100000"},
		{"profile: a billion intervals", []string{"profile", "-o", filepath.Join(dir, "p.json"), "--intervals", "1000000000"}, exitUsage, "probe grid: context lengths: intervals 1000000000, want at most 10000"},
		{"profile: a billion depth intervals", []string{"profile", "-o", filepath.Join(dir, "p.json"), "--depth-intervals", "1000000000"}, exitUsage, "probe grid: depths: intervals 1000000000, want at most 10000"},
		{"profile: a context of 2^40 tokens", []string{"profile", "-o", filepath.Join(dir, "p.json"), "--max-length", "1099511627776"}, exitUsage, "probe grid: context lengths: max 1099511627776, want at most 16777216 tokens"},
		{"profile: --threads 100000", []string{"profile", "-o", filepath.Join(dir, "p.json"), "--threads", "100000"}, exitUsage, "--threads 100000: want 0 (all CPUs) or 1..1024"},
		{"profile: --threads -3", []string{"profile", "-o", filepath.Join(dir, "p.json"), "--threads", "-3"}, exitUsage, "--threads -3: want 0 (all CPUs) or 1..1024"},
		{"generate: --threads -3", []string{"generate", "--model", empty, "--ids", "1", "--threads", "-3"}, exitUsage, "--threads -3: want 0 (all CPUs) or 1..1024"},
		{"calibrate: --threads 100000", []string{"calibrate", "--profile", otherSchema, "--threads", "100000"}, exitUsage, "--threads 100000: want 0 (all CPUs) or 1..1024"},
		{"bench: --threads -3", []string{"bench", "--threads", "-3"}, exitUsage, "--threads -3: want 0 (all CPUs) or 1..1024"},
		{"merge: output is an input", []string{"merge", shardFile, filepath.Join(dir, "other.jsonl"), "-o", shardFile}, exitUsage, "--output " + shardFile + " is one of the shard files merged"},
		{"merge: output is an input by a link", []string{"merge", shardFile, "-o", shardLink}, exitUsage, "--output " + shardLink + " is the shard file " + shardFile + " (the same file)"},
		{"calibrate: missing profile", []string{"calibrate", "--profile", filepath.Join(dir, "none.json")}, exitFailure, "none.json: no such file"},
		{"shard out of range", []string{"profile", "--shard", "3/2"}, exitUsage, `--shard: shard "3/2": want 0 <= index < count`},
		{"calibrate: empty needle grid", []string{"calibrate", "--profile", otherSchema, "--config", noLengths}, exitUsage, "--needle-lengths and --needle-depths"},
		{"probes: unknown template", []string{"probes", "--tokenizer", dir, "--template", "gpt"}, exitUsage, `--template: template "gpt"`},
		// The synthetic model's context is 4096 tokens: a grid beyond it is
		// refused before any prompt is built.
		{"grid longer than the context", []string{"profile", "-o", filepath.Join(dir, "p.json"), "--lengths", "1000,6000", "--depths", "50"}, exitUsage,
			"the model is too small for this grid: 1 of 2 context lengths (up to 6000 tokens) + 50 new tokens exceed its context of 4096 tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, tc.code, tc.want)
			}
			if !strings.HasPrefix(stderr, "compresskv: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("%v: stderr %q is not one line", tc.args, stderr)
			}
			if b, err := os.ReadFile(shardFile); err != nil || string(b) != "shard bytes\n" {
				t.Errorf("%v: the shard file changed: %q, %v", tc.args, b, err)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("%v: stack trace on stderr: %q", tc.args, stderr)
			}
		})
	}
}
