package calibrate

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compresskv/compresskv/plan"
)

// TestMeasureRatesKeepsResults: with a journal, the plan's end-to-end
// measurement runs the shortest prompts Run has left, journals their
// results, and Run resumes them into the same calibration bytes; a prompt
// already journaled is not measured again.
func TestMeasureRatesKeepsResults(t *testing.T) {
	f := newJournalFixture(t)
	m, ranking, datasets, opts, want := f.m, f.ranking, f.datasets, f.opts, f.want
	j, err := OpenJournal(f.path, f.key, true)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// The shortest prompt is journaled already (by an earlier run).
	type at struct {
		d, p, n int
	}
	var order []at
	for d, ds := range datasets {
		for p, ids := range ds.Prompts {
			order = append(order, at{d, p, len(ids)})
		}
	}
	slices.SortStableFunc(order, func(a, b at) int { return a.n - b.n })
	first := order[0]
	firstResult, err := RunPrompt(context.Background(), m, datasets[first.d].Prompts[first.p], datasets[first.d].MaxNew, Heads(ranking, opts.TopK), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.append(datasets[first.d].Name, first.p, firstResult); err != nil {
		t.Fatal(err)
	}
	opts.Journal = j
	r, err := MeasureRates(context.Background(), m, datasets, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Source, "(their results are the run's first)") {
		t.Fatalf("rates source %q", r.Source)
	}
	measured := min(len(order)-1, promptsAtOnce(opts)*((3+promptsAtOnce(opts)-1)/promptsAtOnce(opts)))
	if got := j.Done(datasets); got != 1+measured {
		t.Fatalf("journal holds %d prompts after the measurement, want 1 + %d", got, measured)
	}
	for _, o := range order[1 : 1+measured] {
		if _, ok := j.done(datasets[o.d].Name, o.p); !ok {
			t.Fatalf("dataset %q prompt %d (one of the shortest left) is not journaled", datasets[o.d].Name, o.p)
		}
	}
	got, err := Run(context.Background(), m, datasets, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := marshal(t, want), marshal(t, got); !bytes.Equal(a, b) {
		t.Errorf("the calibration differs from a run without the measurement's results:\n%s\n%s", a, b)
	}
}

// TestScaleRatesDryRunBudget: without a journal (--dry-run) the
// measurement runs no prompt end to end when the model-level rates
// project the shortest over plan.DryRunBudget (the rates come back
// unscaled, saying so), and the shortest three when they are cheap.
func TestScaleRatesDryRunBudget(t *testing.T) {
	m, _ := tinyModel(t)
	ranking := tinyRanking()
	datasets := tinyDatasets(m)
	opts := testOptions()
	opts.Workers = 1
	for _, tc := range []struct {
		perToken time.Duration
		source   string
	}{
		{time.Hour, "not scaled to a prompt run end to end: --dry-run skips the shortest"},
		{time.Nanosecond, "3 prompts run end to end"},
	} {
		base := plan.Rates{PrefillPerToken: tc.perToken, StepFixed: time.Nanosecond, Source: "test"}
		r, err := scaleRates(context.Background(), m, datasets, ranking, opts, base)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Source, tc.source) || strings.Contains(r.Source, "run's first") {
			t.Errorf("%v per token: rates source %q, want it to contain %q", tc.perToken, r.Source, tc.source)
		}
		if tc.perToken == time.Hour && r.PrefillPerToken != base.PrefillPerToken {
			t.Errorf("unscaled rates changed: %v per token", r.PrefillPerToken)
		}
	}
}
