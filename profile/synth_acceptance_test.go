// The acceptance test on the built-in synthetic model: for five seeds (the
// model's token vectors and head roles, the needles and the haystack all
// drawn from the seed), at least 90 % of the probes succeed and both scores
// rank every planted retrieval head first in its layer.

package profile

import (
	"context"
	"testing"

	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/model/synth/synthtest"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile/schema"
)

func TestSynthAcceptance(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		sopts := synth.Options{Seed: seed}
		dir, _ := synthtest.Write(t, sopts)
		m, tok := modeltest.Load(t, dir)
		tmpl, err := needle.TemplateFor("answer-prefix")
		if err != nil {
			t.Fatal(err)
		}
		// The quick grid (configs/probes-quick.yaml), needles and haystack
		// drawn from this seed.
		grid := needle.Grid{ContextLengths: needle.LinearLengths(256, 1024, 4), Depths: needle.LinearDepths(0, 100, 5), Buffer: 50}
		probes, skips, err := needle.Build(tok, needle.GenerateHaystack(seed, 8000), needle.GenerateNeedles(seed, 2),
			needle.Settings{Grid: grid, Template: tmpl, AddSpecial: true, NeedleSeed: seed, HaystackSeed: seed})
		if err != nil {
			t.Fatal(err)
		}
		h := NewHeader(schema.Tool{Name: "compresskv", Version: "test"}, ModelInfo(m), schema.ProbeInfo{}, probes, skips, Options{})
		res, err := Run(context.Background(), m, tok, probes, Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(&h, res.Records)
		if err != nil {
			t.Fatal(err)
		}
		if p.Probes.Run == 0 || float64(p.Probes.Successful) < 0.9*float64(p.Probes.Run) {
			t.Errorf("seed %d: %d of %d probes successful, want >= 90 %%", seed, p.Probes.Successful, p.Probes.Run)
		}
		for _, ph := range synth.PlantedHeads(sopts) {
			if got := p.Heads.Ranking[ph.Layer][0]; got != ph.Head {
				t.Errorf("seed %d: layer %d: SRH ranks head %d first, want planted head %d (scores %v)", seed, ph.Layer, got, ph.Head, p.Heads.SRH[ph.Layer])
			}
			if got := p.Heads.RetrievalRanking[ph.Layer][0]; got != ph.Head {
				t.Errorf("seed %d: layer %d: retrieval score ranks head %d first, want planted head %d (scores %v)", seed, ph.Layer, got, ph.Head, p.Heads.Retrieval[ph.Layer])
			}
		}
		m.Close()
	}
}
