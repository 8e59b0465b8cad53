package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compresskv/compresskv/profile"
)

// buildBinary builds compresskv into a temporary folder, as a user runs it.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the compresskv binary and runs it on the synthetic model; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "compresskv")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestProfileInterruptResume sends a real SIGINT to `compresskv profile`
// once its checkpoint holds a finished probe: it must stop with an error
// saying how to resume, and the same command run again must finish with
// the profile an uninterrupted run writes, byte for byte.
func TestProfileInterruptResume(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "HOME="+dir)
	// 2 needles x 3 lengths x 5 depths = 30 probes of the synthetic model.
	args := func(output string) []string {
		return []string{"profile", "-o", output, "--lengths", "256,320,384", "--depths", "0,25,50,75,100", "--needles-count", "2"}
	}
	command := func(output string) *exec.Cmd {
		cmd := exec.Command(bin, args(output)...)
		cmd.Env, cmd.Dir = env, dir
		return cmd
	}

	want := uninterruptedProfile(t, command, dir)

	resumed := filepath.Join(dir, "resumed.json")
	journal := resumed + ".partial.jsonl"
	cmd := command(resumed)
	exited, stderr := startUntilFirstProbe(t, cmd, journal, 20*time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	if err == nil || cmd.ProcessState.ExitCode() != exitFailure {
		t.Fatalf("interrupted run: %v (exit %d), want exit %d; stderr %q", err, cmd.ProcessState.ExitCode(), exitFailure, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "interrupted") || !strings.Contains(msg, "run the same command again to resume") || strings.Contains(msg, "goroutine ") {
		t.Errorf("interrupted run's stderr %q: want one line saying how to resume", msg)
	}
	part, err := profile.ReadPartial(journal)
	if err != nil {
		t.Fatalf("checkpoint after the interruption: %v", err)
	}
	t.Logf("interrupted after %d of 30 probes: %s", len(part.Records), strings.TrimSpace(msg))
	if len(part.Records) == 0 || len(part.Records) >= 30 {
		t.Fatalf("checkpoint holds %d probes, want some of 30", len(part.Records))
	}
	if _, err := os.Stat(resumed); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote the profile: %v", err)
	}

	out, err := command(resumed).CombinedOutput()
	if err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("resuming: %d of 30 probes done", len(part.Records)); !strings.Contains(string(out), want) {
		t.Errorf("resumed run's output lacks %q:\n%s", want, out)
	}
	got, err := os.ReadFile(resumed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("resumed profile (%d bytes) differs from the uninterrupted one (%d bytes)", len(got), len(want))
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("checkpoint left after the resumed run finished: %v", err)
	}
}

// uninterruptedProfile runs command (a profile run writing its output
// argument) to the end into dir/whole.json and returns the bytes written.
func uninterruptedProfile(t *testing.T, command func(output string) *exec.Cmd, dir string) []byte {
	t.Helper()
	whole := filepath.Join(dir, "whole.json")
	if out, err := command(whole).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	want, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// startUntilFirstProbe starts cmd, a profile run checkpointing to journal,
// and returns once a finished probe is in the checkpoint (the header is the
// journal's first line, a second whole line is a probe), with the channel
// its exit arrives on and its standard error. The test fails when the run
// ends first or nothing is checkpointed within timeout.
func startUntilFirstProbe(t *testing.T, cmd *exec.Cmd, journal string, timeout time.Duration) (<-chan error, *bytes.Buffer) {
	t.Helper()
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(timeout)
	for {
		data, _ := os.ReadFile(journal)
		if bytes.Count(data, []byte("\n")) >= 2 {
			return exited, stderr
		}
		select {
		case err := <-exited:
			t.Fatalf("profile ended (%v) before a probe reached the checkpoint; stderr %q", err, stderr.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("no finished probe in the checkpoint after %v", timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
