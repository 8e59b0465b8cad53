package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// exampleCommands returns the argument lists of the compresskv commands in
// shell text: continuation lines joined, comments dropped, commands split
// at &&, ; and |, redirections removed.
func exampleCommands(text string) [][]string {
	text = strings.ReplaceAll(text, "\\\n", " ")
	var cmds [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, part := range regexp.MustCompile(`&&|;|\|`).Split(line, -1) {
			words := shellWords(part)
			if len(words) == 0 || words[0] != "compresskv" {
				continue
			}
			var args []string
			for i := 1; i < len(words); i++ {
				switch {
				case words[i] == "#":
					i = len(words)
				case words[i] == ">" || words[i] == "2>":
					i++
				default:
					args = append(args, words[i])
				}
			}
			cmds = append(cmds, args)
		}
	}
	return cmds
}

// shellWords splits s at spaces outside double quotes, dropping the quotes.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// checkParses finds the command of args and parses its flags and arguments
// as a run would, without running it.
func checkParses(t *testing.T, where string, args []string) {
	t.Helper()
	root := newRootCommand(&streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}})
	cmd, rest, err := root.Find(args)
	if err == nil && cmd == root && len(args) > 0 {
		err = &commandError{args[0]}
	}
	if err == nil {
		err = cmd.ParseFlags(rest)
	}
	if err == nil {
		err = cmd.ValidateArgs(cmd.Flags().Args())
	}
	if err != nil {
		t.Errorf("%s: compresskv %s: %v", where, strings.Join(args, " "), err)
	}
}

type commandError struct{ name string }

func (e *commandError) Error() string { return "unknown command " + e.name }

func visibleCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Runnable() && c != root {
			out = append(out, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// TestExamplesParse: every example in --help and in docs/usage.md names a
// real command with real flags and an accepted number of arguments, and
// docs/usage.md has a section for every command.
func TestExamplesParse(t *testing.T) {
	root := newRootCommand(&streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}})
	checked := 0
	for _, c := range append(visibleCommands(root), root) {
		for _, args := range exampleCommands(c.Example) {
			checkParses(t, c.CommandPath()+" --help", args)
			checked++
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "usage.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range shellBlocks(string(doc)) {
		for _, args := range exampleCommands(block) {
			checkParses(t, "docs/usage.md", args)
			checked++
		}
	}
	if checked < 40 {
		t.Errorf("only %d examples found; the extraction is broken", checked)
	}
	for _, c := range visibleCommands(root) {
		if !strings.Contains(string(doc), "\n### "+c.CommandPath()+"\n") {
			t.Errorf("docs/usage.md has no section \"### %s\"", c.CommandPath())
		}
	}
}

// shellBlocks returns the fenced code blocks of a Markdown text marked sh
// or bash.
func shellBlocks(markdown string) []string {
	var blocks []string
	var cur *strings.Builder
	inFence := false
	for _, line := range strings.Split(markdown, "\n") {
		if !strings.HasPrefix(line, "```") {
			if cur != nil {
				cur.WriteString(line + "\n")
			}
			continue
		}
		if inFence {
			if cur != nil {
				blocks = append(blocks, cur.String())
			}
			inFence, cur = false, nil
			continue
		}
		inFence = true
		if lang := strings.TrimPrefix(line, "```"); lang == "sh" || lang == "bash" {
			cur = &strings.Builder{}
		}
	}
	return blocks
}

func TestExampleCommands(t *testing.T) {
	md := "```sh\ncompresskv x\n```\n\n```yaml\nk: compresskv y\n```\ntext\n```bash\ncompresskv z\n```\n"
	if got := shellBlocks(md); len(got) != 2 || got[0] != "compresskv x\n" || got[1] != "compresskv z\n" {
		t.Errorf("shellBlocks = %q", got)
	}
	got := exampleCommands("  # comment compresskv no\n  compresskv a --x \"b c\" \\\n   --y 1 > out.json && compresskv d | jq .\nls compresskv\n  compresskv e # tail compresskv f\n")
	want := [][]string{{"a", "--x", "b c", "--y", "1"}, {"d"}, {"e"}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("command %d: %q, want %q", i, got[i], want[i])
		}
	}
}
