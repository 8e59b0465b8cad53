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

// TestProfileWeightsTruncatedMidRun truncates the weight file of a running
// `compresskv profile` once its checkpoint holds a finished probe (what a
// second download or copy over the same file does): the run must stop
// with one line naming the file, no Go fault dump, and exit 1, with its
// checkpoint intact; with the file restored, the same command resumes and
// writes the profile an uninterrupted run writes, byte for byte.
func TestProfileWeightsTruncatedMidRun(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "HOME="+dir)
	modelDir := filepath.Join(dir, "model")
	if out, err := exec.Command(bin, "synth", "--out", modelDir).CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	weights := filepath.Join(modelDir, "model.safetensors")
	original, err := os.ReadFile(weights)
	if err != nil {
		t.Fatal(err)
	}
	// 2 needles x 3 lengths x 5 depths = 30 probes.
	command := func(output string) *exec.Cmd {
		cmd := exec.Command(bin, "profile", "--model", modelDir, "-o", output, "--lengths", "256,320,384", "--depths", "0,25,50,75,100", "--needles-count", "2")
		cmd.Env, cmd.Dir = env, dir
		return cmd
	}
	want := uninterruptedProfile(t, command, dir)

	cut := filepath.Join(dir, "cut.json")
	journal := cut + ".partial.jsonl"
	cmd := command(cut)
	exited, stderr := startUntilFirstProbe(t, cmd, journal, 30*time.Second)
	if err := os.Truncate(weights, int64(len(original)/2)); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("profile still running 60 s after its weights were truncated; stderr %q", stderr.String())
	}
	msg := stderr.String()
	// Probes were left (the checkpoint held some of 30), each reading every
	// weight through the mapping:
	// a run that ends well did not notice the truncation.
	if err == nil || cmd.ProcessState.ExitCode() != exitFailure {
		t.Fatalf("run over truncated weights: %v (exit %d), want exit %d; stderr %q", err, cmd.ProcessState.ExitCode(), exitFailure, msg)
	}
	for _, bad := range []string{"goroutine ", "SIGBUS", "panic", "fatal error", "unexpected fault"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("stderr holds %q (a Go crash): %s", bad, msg)
		}
	}
	// The plan lines, then the error: one line naming the file and the
	// checkpoint.
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	last := lines[len(lines)-1]
	fileMsg := weights + " changed while compresskv was reading it (truncated or rewritten by another program); restore the file and run again: "
	if !strings.HasPrefix(last, "compresskv: probe ") || !strings.Contains(last, fileMsg) || !strings.HasSuffix(last, " saved in "+journal+", and the same command resumes from them") {
		t.Fatalf("last line of stderr %q, want the error naming %s and the checkpoint", last, weights)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "plan: ") {
			t.Fatalf("stderr line %q is neither the plan nor the error", l)
		}
	}
	part, err := profile.ReadPartial(journal)
	if err != nil {
		t.Fatalf("checkpoint after the fault: %v", err)
	}
	if len(part.Records) == 0 || len(part.Records) >= 30 {
		t.Fatalf("checkpoint holds %d probes, want some of 30", len(part.Records))
	}
	t.Logf("stopped after %d of 30 probes: %s", len(part.Records), last)

	if err := os.WriteFile(weights, original, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := command(cut).CombinedOutput()
	if err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	if w := fmt.Sprintf("resuming: %d of 30 probes done", len(part.Records)); !strings.Contains(string(out), w) {
		t.Errorf("resumed run's output lacks %q:\n%s", w, out)
	}
	if got, err := os.ReadFile(cut); err != nil || !bytes.Equal(got, want) {
		t.Errorf("resumed profile (%d bytes, %v) differs from the uninterrupted one (%d bytes)", len(got), err, len(want))
	}
}
