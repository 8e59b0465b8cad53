package eval

import (
	"context"
	"testing"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// On the streaming variant of the synthetic model, with the head ranking
// of the model's own profile (scored on other needles): the full cache
// answers every probe, as profile's gate saw on its own probes; at a
// budget of 64 tokens per layer StreamingLLM loses every answer in the
// middle of a long context, and CompressKV (the profile's top two heads
// voting, the same budget in every layer) keeps every one of them.
func TestStreamingVariantAcceptance(t *testing.T) {
	o := synth.Options{Seed: 1, Layers: 3, Streaming: true}
	f := newFixture(t, o, []int{512, 1024}, []float64{0, 25, 50, 75, 100})

	// The model's own profile, on needles of another seed.
	tmpl, err := needle.TemplateFor("answer-prefix")
	if err != nil {
		t.Fatal(err)
	}
	own, skips, err := needle.Build(f.tok, needle.GenerateHaystack(3, 6000), needle.GenerateNeedles(9, 1), needle.Settings{
		Grid: needle.Grid{ContextLengths: []int{256, 512}, Depths: []float64{10, 50, 90}, Buffer: 50}, Template: tmpl, AddSpecial: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := profile.Run(context.Background(), f.m, f.tok, own, profile.Options{MaxNewTokens: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := profile.NewHeader(schema.Tool{Name: "compresskv", Version: "test"}, profile.ModelInfo(f.m), schema.ProbeInfo{}, own, skips, profile.Options{MaxNewTokens: 16})
	prof, err := profile.Build(&h, res.Records)
	if err != nil {
		t.Fatal(err)
	}
	if prof.Probes.Successful != prof.Probes.Run {
		t.Fatalf("profile's gate passed %d of %d probes; the full model should answer all", prof.Probes.Successful, prof.Probes.Run)
	}
	f.sel.Heads = calibrate.Heads(prof.Heads.Ranking, 2)
	for _, p := range synth.Planted(o) {
		if prof.Heads.Ranking[p.Layer][0] != p.Head {
			t.Fatalf("layer %d: the profile ranks head %d first, the planted retrieval head is %d", p.Layer, prof.Heads.Ranking[p.Layer][0], p.Head)
		}
	}

	jobs := Jobs([]Method{Full, Streaming, SnapKV, CompressKVUniform}, []int{64})
	got, err := Run(context.Background(), f.m, f.tok, f.probes, Options{Jobs: jobs, Selector: f.sel, MaxNewTokens: 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		full, stream, snap, ckv := p.Results[0], p.Results[1], p.Results[2], p.Results[3]
		if !full.Success {
			t.Errorf("probe %d (length %d, depth %v): full cache failed: %q", p.Index, p.ContextLength, p.Depth, full.Response)
		}
		if !ckv.Success {
			t.Errorf("probe %d (length %d, depth %v): compresskv-uniform@64 lost the answer: %q", p.Index, p.ContextLength, p.Depth, ckv.Response)
		}
		if p.Depth > 0 && p.Depth < 100 && stream.Success {
			t.Errorf("probe %d (length %d, depth %v): streaming@64 kept a mid-context answer: %q", p.Index, p.ContextLength, p.Depth, stream.Response)
		}
		t.Logf("length %4d depth %3v: streaming %v, snapkv %v, compresskv %v", p.ContextLength, p.Depth, stream.Success, snap.Success, ckv.Success)
	}
}
