package eval

import (
	"context"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/profile"
)

// The cost of one probe: eval's one prefill plus a decode per method x
// budget, against profile's prefill plus its scored decode, and a plain
// prefill, on the same 1024-token probe of the synthetic model. Eval
// should cost about one prefill plus cheap decodes.

func benchFixture(b *testing.B) *fixture {
	return newFixture(b, synth.DefaultOptions(), []int{1024}, []float64{50})
}

func BenchmarkEvalProbe(b *testing.B) {
	f := benchFixture(b)
	for _, bc := range []struct {
		name string
		jobs []Job
	}{
		{"full", Jobs([]Method{Full}, nil)},
		{"6methods-x-3budgets", Jobs(allMethods, []int{64, 128, 512})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(context.Background(), f.m, f.tok, f.probes, Options{Jobs: bc.jobs, Selector: f.sel}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkProfileProbe(b *testing.B) {
	f := benchFixture(b)
	for b.Loop() {
		if _, err := profile.Run(context.Background(), f.m, f.tok, f.probes, profile.Options{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrefill(b *testing.B) {
	f := benchFixture(b)
	ids := f.probes[0].IDs
	for b.Loop() {
		if err := modeltest.NewSession(b, f.m, model.SessionOptions{}).Prefill(b.Context(), ids[:len(ids)-1], nil); err != nil {
			b.Fatal(err)
		}
	}
}
