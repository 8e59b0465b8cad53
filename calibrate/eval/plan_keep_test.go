package eval

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/needle"
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
