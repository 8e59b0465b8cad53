package profile

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile/schema"
)

// TestStoriesTeacherForced runs the whole pipeline (model sessions,
// observer, checkpoint, build, validation) on the real stories260K
// checkpoint. Its tokenizer has no room for text needles, so the probes are
// built at the id level: random vocabulary ids as haystack, a fixed id
// sequence as needle, and the same key ids at the end of the prompt.
func TestStoriesTeacherForced(t *testing.T) {
	dir := testshared.Require(t, "models/stories260K-f32")
	m, tok := modeltest.Load(t, dir)
	rng := rand.New(rand.NewPCG(7, 7))
	key := []int{300, 301}
	answer := []int{400, 401, 402, 403}
	var probes []needle.Probe
	for i := 0; i < 4; i++ {
		hay := make([]int, 120+20*i)
		for j := range hay {
			hay[j] = 3 + rng.IntN(250)
		}
		at := len(hay) * i / 4
		ids := append([]int{1}, hay[:at]...)
		ids = append(ids, key...)
		start := len(ids)
		ids = append(ids, answer...)
		ids = append(ids, hay[at:]...)
		ids = append(ids, key...)
		probes = append(probes, needle.Probe{
			Index: i, ContextLength: len(ids), Depth: float64(25 * i), NeedleID: "ids",
			IDs: ids, SpanStart: start, SpanEnd: start + len(answer), Answer: tok.Decode(answer),
		})
	}
	opts := Options{TeacherForced: true}
	info := schema.ProbeInfo{Template: "ids", Haystack: "random ids", Needles: "ids", NeedleCount: 1, ContextLengths: []int{160}, Depths: []float64{0, 25, 50, 75}}
	h := NewHeader(schema.Tool{Name: "compresskv", Version: "test"}, ModelInfo(m), info, probes, nil, opts)
	c, err := OpenCheckpoint(filepath.Join(t.TempDir(), "c.jsonl"), h, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts.Checkpoint = c
	res, err := Run(context.Background(), m, tok, probes, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(&h, res.Records)
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(p); err != nil {
		t.Fatal(err)
	}
	if p.Probes.Run != 4 || p.Probes.Scoring != "teacher-forced" || p.Model.Layers != 5 || p.Model.Heads != 8 {
		t.Fatalf("run %d scoring %q model %+v", p.Probes.Run, p.Probes.Scoring, p.Model)
	}
	// Every teacher-forced step produces a span token, so each probe's own
	// SRH is positive for every head that looks at the span at all, and
	// equals the summed span mass: at most one per step.
	for _, r := range res.Records {
		total := 0.0
		for l, row := range r.SRH {
			for h, v := range row {
				if v < 0 || v > float64(len(answer))+1e-4 {
					t.Fatalf("probe %d SRH[%d][%d] = %v outside [0, %d]", r.Index, l, h, v, len(answer))
				}
				total += v
			}
		}
		if total <= 0 {
			t.Fatalf("probe %d: no head attended to the answer span at all", r.Index)
		}
	}
	// Teacher forcing scores every probe, so the profile's mean scores are
	// the probes' own, and some head of every layer looked at the span.
	if p.Probes.Successful != p.Probes.Run {
		t.Fatalf("teacher-forced: %d of %d probes counted, want all", p.Probes.Successful, p.Probes.Run)
	}
	for l, row := range p.Heads.SRH {
		if best := row[p.Heads.Ranking[l][0]]; best <= 0 {
			t.Errorf("layer %d: top SRH score %v, want > 0 (scores %v)", l, best, row)
		}
	}
	t.Logf("responses: %q %q; recall %v %v", p.Probes.Results[0].Response, p.Probes.Results[1].Response, p.Probes.Results[0].Recall, p.Probes.Results[1].Recall)
}
