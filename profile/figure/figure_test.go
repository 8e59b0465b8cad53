package figure

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/compresskv/compresskv/profile/schema"
)

// testProfile has 3 layers x 4 heads with one bright head per layer.
func testProfile(calibrated bool) *schema.Profile {
	p := &schema.Profile{Schema: schema.Version}
	bright := []int{2, 0, 3}
	for l := 0; l < 3; l++ {
		srh := make([]float64, 4)
		ret := make([]float64, 4)
		for h := range srh {
			srh[h] = 0.05 * float64(h+1)
			ret[h] = 0.01
		}
		srh[bright[l]] = 3
		ret[bright[l]] = 0.9
		p.Heads.SRH = append(p.Heads.SRH, srh)
		p.Heads.Retrieval = append(p.Heads.Retrieval, ret)
	}
	if calibrated {
		p.Calibration = &schema.Calibration{
			LayerScores: []float64{0.5, 0.3, 0.2},
			Budgets:     map[string][]int{"64": {96, 56, 40}, "256": {400, 220, 148}},
		}
	}
	return p
}

func TestDrawPNG(t *testing.T) {
	for _, calibrated := range []bool{false, true} {
		var buf bytes.Buffer
		if err := Draw(&buf, testProfile(calibrated), Options{Format: "png"}); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("output is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() < 200 || b.Dy() < 200 {
			t.Fatalf("image too small: %v", b)
		}
		if calibrated {
			if b := img.Bounds(); b.Dy() <= b.Dx()/2 {
				t.Fatalf("calibrated figure should have two rows of panels: %v", b)
			}
		}
		if brightest(img) < 0.8 {
			t.Fatalf("no bright cell drawn (max luminance %.2f)", brightest(img))
		}
	}
}

// brightest returns the maximum luminance of any non-white pixel, 0..1: the
// brightest heatmap cell of the black-body map is near-white yellow.
func brightest(img image.Image) float64 {
	best := 0.0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r == 0xffff && g == 0xffff && bl == 0xffff {
				continue
			}
			l := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 0xffff
			if l > best {
				best = l
			}
		}
	}
	return best
}

func TestSaveSVGAndBadFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "heads.svg")
	if err := Save(testProfile(true), path, Options{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), "<svg") {
		t.Fatalf("not an SVG: %v", err)
	}
	if err := Save(testProfile(false), filepath.Join(dir, "x.gif"), Options{}); err == nil || !strings.Contains(err.Error(), "unsupported figure format") {
		t.Fatalf("gif: err = %v", err)
	}
	if err := Draw(&bytes.Buffer{}, &schema.Profile{}, Options{Format: "png"}); err == nil {
		t.Fatal("empty profile drew without error")
	}
}

func TestPickBudget(t *testing.T) {
	b := map[string][]int{"64": {1}, "128": {2}}
	if avg, v, ok := pickBudget(b, 0); !ok || avg != 64 || v[0] != 1 {
		t.Fatalf("default pick = %d %v %v", avg, v, ok)
	}
	if _, _, ok := pickBudget(b, 512); ok {
		t.Fatal("picked a budget that is not stored")
	}
}

// cellLuminance renders p and returns the luminance (0..1) of the pixel at
// the centre of heatmap cell (layer, head) of a panel (0: SRH, 1: retrieval).
func cellLuminance(t *testing.T, p *schema.Profile) func(panel, layer, head int) float64 {
	t.Helper()
	f, err := layout(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const dpi = 96
	c := vgimg.NewWith(vgimg.UseWH(f.width, f.height), vgimg.UseDPI(dpi))
	cells := f.draw(draw.New(c))
	img := c.Image()
	height := img.Bounds().Dy()
	return func(panel, layer, head int) float64 {
		pl := f.rows[0][panel]
		da := pl.DataCanvas(cells[0][panel])
		xOf, yOf := pl.Transforms(&da)
		px := int(float64(xOf(float64(head))) * dpi / 72)
		py := height - int(float64(yOf(float64(layer)))*dpi/72)
		r, g, b, _ := img.At(px, py).RGBA()
		return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xffff
	}
}

// TestHeatmapCellColours renders the figure and reads back the pixel at the
// centre of every heatmap cell: brightness must follow the score order
// within each layer, in both heatmaps.
func TestHeatmapCellColours(t *testing.T) {
	p := testProfile(true)
	lum := cellLuminance(t, p)
	for panel, scores := range [][][]float64{p.Heads.SRH, p.Heads.Retrieval} {
		for layer, row := range scores {
			for a := range row {
				for b := range row {
					if row[a] > row[b] && lum(panel, layer, a) <= lum(panel, layer, b) {
						t.Errorf("panel %d layer %d: head %d (score %g) is not brighter than head %d (score %g): %.3f <= %.3f",
							panel, layer, a, row[a], b, row[b], lum(panel, layer, a), lum(panel, layer, b))
					}
				}
			}
		}
	}
}
