package eval

import (
	"context"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/internal/testshared"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/needle"
)

// The mechanics on a trained checkpoint (stories260K: 5 layers, 8 query
// heads in 4 GQA groups): full decodes what plain generation decodes, and
// every compressed cache decodes with exactly its budget per layer. The
// model is too small to retrieve, so nothing is asserted about recall.
func TestStoriesMechanics(t *testing.T) {
	dir := testshared.Require(t, "models/stories260K-f32")
	m, tok := modeltest.Load(t, dir)
	tmpl, err := needle.TemplateFor("raw")
	if err != nil {
		t.Fatal(err)
	}
	probes, _, err := needle.Build(tok, needle.GenerateHaystack(1, 4000), needle.GenerateNeedles(2, 1), needle.Settings{
		Grid: needle.Grid{ContextLengths: []int{192, 320}, Depths: []float64{0, 50}, Buffer: 60}, Template: tmpl, AddSpecial: true,
	})
	if err != nil || len(probes) == 0 {
		t.Fatalf("%d probes: %v", len(probes), err)
	}
	sel := &Selector{Params: selection.DefaultParams(), Layers: m.Config().NumLayers}
	jobs := Jobs([]Method{Full, Streaming, SnapKV, PyramidKV}, []int{16, 64})
	got, err := Run(context.Background(), m, tok, probes, Options{Jobs: jobs, Selector: sel, MaxNewTokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	stop := func(id int) bool { return id == m.Config().EOS[0] || strings.Contains(tok.Decode([]int{id}), "\n") }
	for i, p := range probes {
		out := modeltest.Greedy(t, modeltest.NewSession(t, m, model.SessionOptions{}), p.IDs, 10, stop)
		var text []int
		for _, id := range out {
			if id != m.Config().EOS[0] {
				text = append(text, id)
			}
		}
		if want := strings.TrimSpace(tok.DecodeSkipSpecial(text)); got[i].Results[0].Response != want {
			t.Errorf("probe %d: full %q, generate %q", p.Index, got[i].Results[0].Response, want)
		}
		n := len(p.IDs) - 1
		for _, r := range got[i].Results[1:] {
			want := m.Config().NumLayers * min(r.Budget, n)
			if r.Method == PyramidKV {
				want = 0
				for l := 0; l < m.Config().NumLayers; l++ {
					want += min(n, selection.PyramidBudget(l, m.Config().NumLayers, r.Budget, 8, n, selection.DefaultPyramidBeta))
				}
			}
			if r.Kept != want {
				t.Errorf("probe %d %s@%d: kept %d positions over the layers, want %d", p.Index, r.Method, r.Budget, r.Kept, want)
			}
		}
	}
}
