package figure

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/model/synth/synthtest"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// synthProfile profiles the built-in synthetic model on a few probes.
func synthProfile(t *testing.T) (*schema.Profile, map[int]int) {
	t.Helper()
	opts := synth.DefaultOptions()
	dir, _ := synthtest.Write(t, opts)
	m, tok := modeltest.Load(t, dir)
	tmpl, err := needle.TemplateFor("answer-prefix")
	if err != nil {
		t.Fatal(err)
	}
	probes, skips, err := needle.Build(tok, needle.GenerateHaystack(7, 4000), needle.GenerateNeedles(7, 2), needle.Settings{
		Grid: needle.Grid{ContextLengths: []int{256, 512}, Depths: []float64{20, 80}, Buffer: 50}, Template: tmpl, AddSpecial: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := profile.NewHeader(schema.Tool{Name: "compresskv", Version: "test"}, profile.ModelInfo(m), schema.ProbeInfo{}, probes, skips, profile.Options{})
	res, err := profile.Run(context.Background(), m, tok, probes, profile.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Build(&h, res.Records)
	if err != nil {
		t.Fatal(err)
	}
	return p, synth.RetrievalHeads(opts)
}

// TestSynthPlantedHeadsAreBrightest: the figure of a real profile of the
// synthetic model shows each planted retrieval head as the brightest cell
// of its layer in both heatmaps, read back from the rendered PNG; the SVG
// renders too.
func TestSynthPlantedHeadsAreBrightest(t *testing.T) {
	p, planted := synthProfile(t)
	lum := cellLuminance(t, p)
	for panel, name := range []string{"SRH", "retrieval"} {
		for layer, head := range planted {
			for other := 0; other < p.Model.Heads; other++ {
				if other != head && lum(panel, layer, other) >= lum(panel, layer, head) {
					t.Errorf("%s heatmap, layer %d: head %d (luminance %.3f) is not darker than planted head %d (%.3f)",
						name, layer, other, lum(panel, layer, other), head, lum(panel, layer, head))
				}
			}
		}
	}
	var svg bytes.Buffer
	if err := Draw(&svg, p, Options{Format: "svg"}); err != nil || !strings.Contains(svg.String(), "<svg") {
		t.Fatalf("SVG: %v", err)
	}
}
