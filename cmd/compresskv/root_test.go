package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// echoSettingsCommand exists only in tests and prints its settings, so
// configuration precedence is tested without any real work.
func echoSettingsCommand(s *streams) *cobra.Command {
	var maxNew int
	var name string
	var lengths []int
	cmd := &cobra.Command{
		Use:    "echo-settings",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(s.out, "max-new=%d name=%s lengths=%v\n", maxNew, name, lengths)
			return err
		},
	}
	cmd.Flags().IntVar(&maxNew, "max-new", 50, "")
	cmd.Flags().StringVar(&name, "name", "default", "")
	cmd.Flags().IntSliceVar(&lengths, "lengths", nil, "")
	return cmd
}

// runEcho runs the root command with echo-settings added.
func runEcho(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	s := &streams{in: strings.NewReader(""), out: &out, err: &errOut}
	root := newRootCommand(s)
	root.AddCommand(echoSettingsCommand(s))
	code = execute(root, append([]string{"echo-settings"}, args...), &errOut)
	return code, out.String(), errOut.String()
}

func TestConfigEnvFlagPrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("max-new: 7\nname: fromfile\necho-settings:\n  lengths: [100, 200]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"defaults", nil, nil, "max-new=50 name=default lengths=[]"},
		{"config file", nil, []string{"--config", cfg}, "max-new=7 name=fromfile lengths=[100 200]"},
		{"env beats file", map[string]string{"COMPRESSKV_MAX_NEW": "9"}, []string{"--config", cfg}, "max-new=9 name=fromfile lengths=[100 200]"},
		{"flag beats env and file", map[string]string{"COMPRESSKV_MAX_NEW": "9"}, []string{"--config", cfg, "--max-new", "3", "--lengths", "5"}, "max-new=3 name=fromfile lengths=[5]"},
		{"env alone", map[string]string{"COMPRESSKV_NAME": "env"}, nil, "max-new=50 name=env lengths=[]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runEcho(c.args...)
			if code != exitOK || strings.TrimSpace(out) != c.want {
				t.Fatalf("exit %d, out %q (stderr %q), want %q", code, out, errOut, c.want)
			}
		})
	}
}

func TestBadSettingsAreUsageErrors(t *testing.T) {
	t.Setenv("COMPRESSKV_MAX_NEW", "lots")
	code, _, errOut := runEcho()
	if code != exitUsage || !strings.Contains(errOut, "COMPRESSKV_MAX_NEW") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	os.Unsetenv("COMPRESSKV_MAX_NEW")
	code, _, errOut = runEcho("--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != exitUsage || !strings.Contains(errOut, "missing.yaml") {
		t.Fatalf("missing config: exit %d, stderr %q", code, errOut)
	}
	code, _, _ = runCLI("no-such-command")
	if code != exitUsage {
		t.Fatalf("unknown command: exit %d, want %d", code, exitUsage)
	}
	code, _, _ = runCLI("version", "--no-such-flag")
	if code != exitUsage {
		t.Fatalf("unknown flag: exit %d, want %d", code, exitUsage)
	}
}

// TestConfigFileLimits is the file layer of --config (FuzzConfigYAML
// fuzzes the bytes): a missing file, a folder and a file over the size cap
// are usage errors naming the file; a file at the cap is read.
func TestConfigFileLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	data := append([]byte("max-new: 7\n"), bytes.Repeat([]byte("#"), maxConfigSize-11)...)
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runEcho("--config", big); code != exitOK || !strings.Contains(out, "max-new=7 ") {
		t.Fatalf("config of exactly %d bytes: exit %d, out %q, stderr %q", maxConfigSize, code, out, errOut)
	}
	if err := os.WriteFile(big, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{big, fmt.Sprintf("--config %s: file is bigger than %d bytes", big, maxConfigSize)},
		{dir, "--config " + dir + ": "},
		{filepath.Join(dir, "missing.yaml"), "--config " + filepath.Join(dir, "missing.yaml") + ": open "},
	} {
		code, _, errOut := runEcho("--config", c.path)
		if code != exitUsage || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("--config %s: exit %d, stderr %q, want exit %d and one line containing %q", c.path, code, errOut, exitUsage, c.want)
		}
	}
}

// Every command a user can see carries a real example in its help.
func TestEveryCommandHasExamples(t *testing.T) {
	root := newRootCommand(&streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Runnable() && !strings.Contains(c.Example, "compresskv") {
			t.Errorf("command %q has no example in its help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	code, out, _ := runCLI("--help")
	if code != exitOK || !strings.Contains(out, "Examples:") {
		t.Fatalf("root help: exit %d, no examples:\n%s", code, out)
	}
}

func TestDescribeVersion(t *testing.T) {
	tests := []struct {
		settings map[string]string
		want     string
	}{
		{nil, "1.2.3 (commit unknown: built without git information, e.g. by go run)"},
		{map[string]string{"vcs.revision": "0123456789abcdef0123", "vcs.time": "2026-12-01T10:00:00Z", "vcs.modified": "false"},
			"1.2.3 (commit 0123456789ab, 2026-12-01T10:00:00Z)"},
		{map[string]string{"vcs.revision": "0123456789abcdef0123", "vcs.modified": "true"},
			"1.2.3 (commit 0123456789ab, with uncommitted changes)"},
	}
	for _, tt := range tests {
		if got := describeVersion("1.2.3", tt.settings); got != tt.want {
			t.Errorf("describeVersion(%v) = %q, want %q", tt.settings, got, tt.want)
		}
	}
}

// TestVersionFlag: --version is a flag of the root command, printing the
// same line as the version command.
func TestVersionFlag(t *testing.T) {
	var flagOut, cmdOut strings.Builder
	if code := run([]string{"--version"}, strings.NewReader(""), &flagOut, io.Discard); code != exitOK {
		t.Fatalf("--version exit %d", code)
	}
	if code := run([]string{"version"}, strings.NewReader(""), &cmdOut, io.Discard); code != exitOK {
		t.Fatalf("version exit %d", code)
	}
	if !strings.HasPrefix(flagOut.String(), "compresskv 0.1.0-dev (commit ") || flagOut.String() != cmdOut.String() {
		t.Fatalf("--version printed %q, version printed %q", flagOut.String(), cmdOut.String())
	}
}

// TestFileArgsMessages: a command missing its file says which file and shows
// the command line, as a usage error (exit 2), never cobra's raw count.
func TestFileArgsMessages(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"inspect"}, "compresskv: inspect needs PROFILE: compresskv inspect PROFILE|EVAL\n"},
		{[]string{"plot"}, "compresskv: plot needs PROFILE: compresskv plot PROFILE|EVAL -o FIGURE.png\n"},
		{[]string{"inspect", "a.json", "b.json"}, "compresskv: inspect takes 1 file argument(s), got 2 (a.json b.json): compresskv inspect PROFILE|EVAL\n"},
		{[]string{"budget", "--avg", "64"}, "compresskv: budget needs PROFILE: compresskv budget PROFILE --avg N\n"},
	}
	for _, tt := range tests {
		var errOut strings.Builder
		if code := run(tt.args, strings.NewReader(""), io.Discard, &errOut); code != exitUsage || errOut.String() != tt.want {
			t.Errorf("%v: exit %d, stderr %q; want exit 2, %q", tt.args, code, errOut.String(), tt.want)
		}
	}
}

// TestHelpShowsEmbeddedDefaults: the defaults that come from the embedded
// YAML files show in --help, per grid, and no flag shows a Go type name.
func TestHelpShowsEmbeddedDefaults(t *testing.T) {
	help := func(args ...string) string {
		var out strings.Builder
		if code := run(append(args, "--help"), strings.NewReader(""), &out, io.Discard); code != exitOK {
			t.Fatalf("%v --help: exit %d", args, code)
		}
		return out.String()
	}
	profileHelp := help("profile")
	for _, want := range []string{
		"shortest context length in tokens (default 1000; --quick: 256; built-in model: 256)",
		"(default tolstoy; built-in model: generated)",
		"--depths depths ",
	} {
		if !strings.Contains(profileHelp, want) {
			t.Errorf("profile --help lacks %q", want)
		}
	}
	calibrateHelp := help("calibrate")
	for _, want := range []string{
		"calibration budget: tokens per layer the selection keeps (default 32)",
		"--needle-depths depths ",
		"(default 10,50,90)",
		"--avgs budgets ",
		"(default 64,128,256,512,1024,2048)",
	} {
		if !strings.Contains(calibrateHelp, want) {
			t.Errorf("calibrate --help lacks %q", want)
		}
	}
	for _, cmd := range []string{"profile", "calibrate", "probes", "eval", "quickstart"} {
		h := help(cmd)
		for _, bad := range []string{"float64Slice", "intSlice", "(default [])"} {
			if strings.Contains(h, bad) {
				t.Errorf("%s --help shows %q", cmd, bad)
			}
		}
		for _, line := range strings.Split(h, "\n") {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("%s --help gives two defaults: %q", cmd, line)
			}
		}
	}
}
