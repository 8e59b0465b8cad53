package eval

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/plan"
	"github.com/compresskv/compresskv/profile"
)

// TestMeasureRatesKeepsRecords: with a checkpoint, the plan's end-to-end
// measurement scores the two shortest probes the run has left, appends
// their records (of its shard), and the run resumes them into the same
// document bytes.
func TestMeasureRatesKeepsRecords(t *testing.T) {
	f := newFixture(t, synth.DefaultOptions(), []int{128, 256}, []float64{0, 50, 100})
	methods, budgets := []Method{Full, SnapKV, CompressKV}, []int{32}
	h, opts, want := wholeDocument(t, f, methods, budgets)
	shortest := slices.Clone(f.probes)
	slices.SortStableFunc(shortest, func(a, b needle.Probe) int { return len(a.IDs) - len(b.IDs) })

	for _, shard := range []profile.Shard{{}, {Index: 0, Count: 2}} {
		hs := h
		hs.Shard = shard
		ck, err := OpenCheckpoint(filepath.Join(t.TempDir(), "e.jsonl"), hs, true)
		if err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Checkpoint, o.Shard = ck, shard
		r, err := MeasureRates(context.Background(), f.m, f.tok, f.probes, o)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Source, "(their results are the run's first)") {
			t.Fatalf("shard %v: rates source %q", shard, r.Source)
		}
		var wantKept []int
		for _, p := range shortest {
			if shard.Has(p.Index) && len(wantKept) < 2 {
				wantKept = append(wantKept, p.Index)
			}
		}
		for _, i := range wantKept {
			if !ck.has(i) {
				t.Fatalf("shard %v: probe %d (one of the 2 shortest left) is not in the checkpoint", shard, i)
			}
		}
		if ck.Done() != 2 {
			t.Fatalf("shard %v: checkpoint holds %d probes after the measurement, want 2", shard, ck.Done())
		}
		got, err := Run(context.Background(), f.m, f.tok, f.probes, o)
		if err != nil {
			t.Fatal(err)
		}
		ck.Close()
		if !shard.Whole() {
			continue
		}
		data, err := Marshal(Build(&h, got))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want) {
			t.Fatal("the document differs from a run without the measurement's records")
		}
	}
}

// TestScaleRatesDryRunBudget: without a checkpoint (--dry-run) the
// measurement runs no probe end to end when the model-level rates project
// the shortest over plan.DryRunBudget (the rates come back unscaled,
// saying so), and both shortest when they are cheap.
func TestScaleRatesDryRunBudget(t *testing.T) {
	f := newFixture(t, synth.DefaultOptions(), []int{128, 256}, []float64{0, 50})
	_, opts, _ := wholeDocument(t, f, []Method{Full, SnapKV}, []int{32})
	opts.Checkpoint = nil
	for _, tc := range []struct {
		perToken time.Duration
		source   string
	}{
		{time.Second, "not scaled to a prompt run end to end: --dry-run skips the shortest"},
		{time.Nanosecond, "scaled by"},
	} {
		base := plan.Rates{PrefillPerToken: tc.perToken, StepFixed: time.Nanosecond, Source: "test"}
		r, err := scaleRates(context.Background(), f.m, f.tok, f.probes, opts, base)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Source, tc.source) || strings.Contains(r.Source, "run's first") {
			t.Errorf("%v per token: rates source %q, want it to contain %q", tc.perToken, r.Source, tc.source)
		}
		if tc.perToken == time.Second && r.PrefillPerToken != base.PrefillPerToken {
			t.Errorf("unscaled rates changed: %v per token", r.PrefillPerToken)
		}
		if tc.perToken == time.Nanosecond && !strings.Contains(r.Source, "2 probes run end to end") {
			t.Errorf("cheap probes: rates source %q, want both shortest run", r.Source)
		}
	}
}
