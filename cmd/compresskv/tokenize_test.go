package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
)

// tokenizeFixture is the tokenizer package's hand-written SentencePiece
// fixture (36 pieces; "hello world" -> ▁hello 31, ▁world 28, BOS <s> 1).
const tokenizeFixture = "../../model/tokenizer/testdata/mistral"

func runTokenizeArgs(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"tokenize"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestTokenize(t *testing.T) {
	file := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(file, []byte("hello world"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"text", "", []string{"--tokenizer", tokenizeFixture, "--text", "hello world"}, "[31,28]\n"},
		{"special adds BOS", "", []string{"--tokenizer", tokenizeFixture, "--special", "--text", "hello world"}, "[1,31,28]\n"},
		{"tokenizer.json path", "", []string{"--tokenizer", tokenizeFixture + "/tokenizer.json", "--text", "the"}, "[23]\n"},
		{"empty text", "", []string{"--tokenizer", tokenizeFixture, "--text", ""}, "[]\n"},
		{"file", "", []string{"--tokenizer", tokenizeFixture, "--file", file}, "[31,28]\n"},
		{"stdin", "hello world", []string{"--tokenizer", tokenizeFixture}, "[31,28]\n"},
		{"json", "", []string{"--tokenizer", tokenizeFixture, "--json", "--special", "--text", "hello world"}, `{"ids":[1,31,28],"tokens":["<s>","▁hello","▁world"]}` + "\n"},
		{"decode list", "", []string{"--tokenizer", tokenizeFixture, "--decode", "31,28"}, "hello world\n"},
		{"decode JSON array keeps specials", "", []string{"--tokenizer", tokenizeFixture, "--decode", "[1,31,28,2]"}, "<s> hello world</s>\n"},
		{"decode json", "", []string{"--tokenizer", tokenizeFixture, "--decode", "31", "--json"}, `{"ids":[31],"text":"hello"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runTokenizeArgs(t, tt.stdin, tt.args...)
			if code != exitOK || out != tt.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q", code, out, errOut, tt.want)
			}
		})
	}
}

func TestTokenizeErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no tokenizer", []string{"--text", "x"}, exitUsage, "--tokenizer is required"},
		{"two sources", []string{"--tokenizer", tokenizeFixture, "--text", "x", "--decode", "1"}, exitUsage, "only one of"},
		{"bad ids", []string{"--tokenizer", tokenizeFixture, "--decode", "1,x"}, exitUsage, `"x" is not a token id`},
		{"bad JSON ids", []string{"--tokenizer", tokenizeFixture, "--decode", "[1,"}, exitUsage, "JSON array"},
		{"negative JSON id", []string{"--tokenizer", tokenizeFixture, "--decode", "[1,-3]"}, exitUsage, "-3 is not a token id"},
		{"id past the vocabulary", []string{"--tokenizer", tokenizeFixture, "--decode", "31,1000000"}, exitUsage, "tokenize: --decode: id 1000000 is not in the vocabulary of " + tokenizeFixture},
		// A folder without tokenizer.json is the wrong path: a usage error, as
		// a --model folder without config.json is (docs/usage.md, exit codes).
		{"missing folder", []string{"--tokenizer", t.TempDir(), "--text", "x"}, exitUsage, "no tokenizer.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runTokenizeArgs(t, "", tt.args...)
			if code != tt.code || out != "" || !strings.Contains(errOut, tt.msg) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tt.code, tt.msg)
			}
		})
	}
}

// TestTokenizeLlama3 is the acceptance check on the real Llama 3 tokenizer.
func TestTokenizeLlama3(t *testing.T) {
	dir := testshared.Require(t, "tokenizers/llama3")
	code, out, errOut := runTokenizeArgs(t, "", "--tokenizer", dir, "--text", "This is a test sentence.")
	if code != exitOK || out != "[2028,374,264,1296,11914,13]\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runTokenizeArgs(t, "", "--tokenizer", dir, "--special", "--text", "This is a test sentence.")
	if code != exitOK || out != "[128000,2028,374,264,1296,11914,13]\n" {
		t.Errorf("--special: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runTokenizeArgs(t, "", "--tokenizer", dir, "--decode", "9468,99,247")
	if code != exitOK || out != "🦙\n" {
		t.Errorf("--decode: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
