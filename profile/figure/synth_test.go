package figure

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

// synthProfile profiles the built-in synthetic model on a few probes.
func synthProfile(t *testing.T) (*schema.Profile, map[int]int) {
	t.Helper()
	dir := t.TempDir()
	opts := synth.DefaultOptions()
	if _, err := synth.Write(dir, opts); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
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
	f, err := layout(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const dpi = 96
	c := vgimg.NewWith(vgimg.UseWH(f.width, f.height), vgimg.UseDPI(dpi))
	cells := f.draw(draw.New(c))
	img := c.Image()
	height := img.Bounds().Dy()
	for panel, name := range []string{"SRH", "retrieval"} {
		pl := f.rows[0][panel]
		da := pl.DataCanvas(cells[0][panel])
		xOf, yOf := pl.Transforms(&da)
		lum := func(layer, head int) float64 {
			px := int(float64(xOf(float64(head))) * dpi / 72)
			py := height - int(float64(yOf(float64(layer)))*dpi/72)
			r, g, b, _ := img.At(px, py).RGBA()
			return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
		}
		for layer, head := range planted {
			for other := 0; other < p.Model.Heads; other++ {
				if other != head && lum(layer, other) >= lum(layer, head) {
					t.Errorf("%s heatmap, layer %d: head %d (luminance %.3f) is not darker than planted head %d (%.3f)",
						name, layer, other, lum(layer, other), head, lum(layer, head))
				}
			}
		}
	}
	var svg bytes.Buffer
	if err := Draw(&svg, p, Options{Format: "svg"}); err != nil || !strings.Contains(svg.String(), "<svg") {
		t.Fatalf("SVG: %v", err)
	}
}
