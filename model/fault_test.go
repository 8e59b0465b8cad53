package model_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/safetensors"
)

// TestWeightsTruncatedWhileLoaded: a weight file cut short while the model
// has it mapped makes Prefill fail with the ChangedError naming it,
// instead of SIGBUS killing the process; the model stays broken (every
// session's Prefill, Step and Decode return the error, Logits is nil), in
// both compute modes.
func TestWeightsTruncatedWhileLoaded(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("weights are read into memory here, not mapped")
	}
	for _, compute := range []model.ComputeDType{model.ComputeF32, model.ComputeBF16} {
		t.Run(compute.String(), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := modeltest.RandomCheckpoint(dir, tinyConfig("llama", 64, 4, 2, 16, ""), 1, kernels.BF16); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(dir, model.LoadOptions{Compute: compute})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ids := []int{1, 5, 9, 2, 7, 3}
			before := modeltest.NewSession(t, m, model.SessionOptions{})
			if err := before.Prefill(t.Context(), ids, nil); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "model.safetensors")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			s := modeltest.NewSession(t, m, model.SessionOptions{})
			err = s.Prefill(t.Context(), ids, nil)
			var changed *safetensors.ChangedError
			if !errors.As(err, &changed) || changed.Path != path {
				t.Fatalf("Prefill over a truncated weight file: %v, want a ChangedError naming %s", err, path)
			}
			want := path + " changed while compresskv was reading it (truncated or rewritten by another program); restore the file and run again"
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			// The session that prefilled before the truncation is broken too.
			if before.Logits() != nil || before.Err() == nil || before.Err().Error() != want {
				t.Errorf("earlier session: Logits %v, Err %v; want nil and the error", before.Logits() != nil, before.Err())
			}
			if err := before.Step(4, nil); err == nil || err.Error() != want {
				t.Errorf("Step after the fault: %v, want %q", err, want)
			}
			if _, err := before.Decode(t.Context(), model.DecodeOptions{MaxNew: 3}); err == nil || err.Error() != want {
				t.Errorf("Decode after the fault: %v, want %q", err, want)
			}
		})
	}
}
