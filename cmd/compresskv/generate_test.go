package main

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/safetensors"
)

func runGenerateArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(append([]string{"generate"}, args...)...)
}

// inputIDs opens a safetensors file and reads its input_ids tensor.
func inputIDs(t *testing.T, path string) (*safetensors.Set, []int64) {
	t.Helper()
	set, err := safetensors.OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	it, err := set.Tensor("input_ids")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := it.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	return set, ids
}

// TestGenerateStories reproduces the greedy reference continuation of the
// real stories260K checkpoint from BOS, and its documented story.
func TestGenerateStories(t *testing.T) {
	dir := testshared.Require(t, "models/stories260K-f32")
	_, ref := inputIDs(t, filepath.Join(dir, "reference.safetensors"))
	code, out, errOut := runGenerateArgs(t, "--model", dir, "--ids", "1", "--max-new", "255", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res generateResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if fmt.Sprint(res.InputIDs) != "[1]" || fmt.Sprint(res.GeneratedIDs) != fmt.Sprint(ref[1:]) {
		t.Fatalf("generated %v\nreference %v", res.GeneratedIDs, ref[1:])
	}
	if res.Text == nil || !strings.HasPrefix(*res.Text, "Once upon a time, there was a little girl named Lily.") {
		t.Fatalf("text %v", res.Text)
	}

	code, out, errOut = runGenerateArgs(t, "--model", dir, "--prompt", "Once upon a time", "--max-new", "20", "--kv-dtype", "bf16", "--chunk", "3", "--threads", "1")
	if code != 0 || !strings.Contains(out, "\nOnce upon a time, there was a little girl named Lily.") {
		t.Fatalf("exit %d, output %q, stderr %q", code, out, errOut)
	}
}

// TestGenerateLogits runs a random checkpoint (no tokenizer) and checks the
// --logits file: input_ids = prompt + generated, logits equal to a one-shot
// prefill of those ids.
func TestGenerateLogits(t *testing.T) {
	dir := t.TempDir()
	cfgJSON := []byte(`{"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
		"num_key_value_heads": 2, "vocab_size": 50, "max_position_embeddings": 64, "eos_token_id": 49}`)
	if _, err := modeltest.RandomCheckpoint(dir, cfgJSON, 3, kernels.BF16); err != nil {
		t.Fatal(err)
	}
	logitsPath := filepath.Join(t.TempDir(), "logits.safetensors")
	code, out, errOut := runGenerateArgs(t, "--model", dir, "--ids", "3,1,4,1,5", "--max-new", "6", "--logits", logitsPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "generated ids: ") {
		t.Fatalf("output %q", out)
	}
	generated := strings.Fields(strings.TrimPrefix(strings.TrimSpace(out), "generated ids: "))

	set, ids64 := inputIDs(t, logitsPath)
	n := 5 + len(generated)
	if len(ids64) != n || fmt.Sprint(ids64[:5]) != "[3 1 4 1 5]" || strings.Trim(fmt.Sprint(ids64[5:]), "[]") != strings.Join(generated, " ") {
		t.Fatalf("input_ids %v, generated %v", ids64, generated)
	}
	lt, err := set.Tensor("logits")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lt.Shape) != fmt.Sprint([]int{n, 50}) {
		t.Fatalf("logits shape %v", lt.Shape)
	}
	got, err := lt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids := make([]int, n)
	for i, v := range ids64 {
		ids[i] = int(v)
	}
	want, err := modeltest.NewSession(t, m, model.SessionOptions{}).PrefillAll(t.Context(), ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-4 {
			t.Fatalf("logit %d: file %v, prefill %v", i, got[i], want[i])
		}
	}
	// Each generated id is the argmax of the previous position's logits.
	for p := 4; p < n-1; p++ {
		if model.Argmax(got[p*50:(p+1)*50]) != ids[p+1] {
			t.Fatalf("position %d: id %d is not the argmax", p+1, ids[p+1])
		}
	}
}

func TestGenerateUsage(t *testing.T) {
	dir := t.TempDir()
	if _, err := modeltest.RandomCheckpoint(dir, []byte(`{"model_type": "llama", "hidden_size": 16, "intermediate_size": 8, "num_hidden_layers": 1,
		"num_attention_heads": 2, "vocab_size": 10, "max_position_embeddings": 8}`), 1, kernels.F32); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--ids", "1"}, 2, "--model is required"},
		{[]string{"--model", dir}, 2, "give exactly one of --prompt and --ids"},
		{[]string{"--model", dir, "--ids", "1", "--prompt", "x"}, 2, "give exactly one of --prompt and --ids"},
		{[]string{"--model", dir, "--ids", "1", "--kv-dtype", "f16"}, 2, `--kv-dtype: KV cache dtype "f16" is not supported`},
		{[]string{"--model", dir, "--ids", "1", "--chunk", "0"}, 2, "--chunk 0: want a positive chunk size"},
		{[]string{"--model", dir, "--ids", "x"}, 2, "invalid argument"},
		{[]string{"--model", dir, "--prompt", "hello"}, 1, "--prompt needs a tokenizer.json"},
		{[]string{"--model", dir, "--ids", "1,2,3,4,5,6,7,8,9"}, 1, "prompt of 9 tokens exceeds the model context of 8"},
		{[]string{"--model", dir, "--ids", "12"}, 1, "token id 12 at index 0 is outside the vocabulary of 10"},
		{[]string{"--model", filepath.Join(dir, "nope"), "--ids", "1"}, 2, "nope: no such folder"},
	}
	for _, tt := range tests {
		code, _, errOut := runGenerateArgs(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("generate %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
	// The context (8) caps generation: 6 prompt ids leave room for 3 tokens.
	code, out, errOut := runGenerateArgs(t, "--model", dir, "--ids", "1,2,3,4,5,6", "--max-new", "10", "--json")
	var res generateResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.GeneratedIDs) != 3 || res.Text != nil {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
}

// TestComputeBF16Warning checks that --compute bf16 warns exactly when the
// CPU lacks AVX512_BF16 (the pure-Go path then runs, slower than f32).
func TestComputeBF16Warning(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Write(dir, synth.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("generate", "--model", dir, "--prompt", "The pass code is", "--max-new", "2", "--compute", "bf16")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	warned := strings.Contains(stderr, "no AVX512_BF16")
	if warned == kernels.HasBF16Dot() {
		t.Errorf("CPU has AVX512_BF16: %v, but warned: %v (stderr %q)", kernels.HasBF16Dot(), warned, stderr)
	}
}
