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
	return cellLuminanceIn(t, p, 0)
}

// cellLuminanceIn is cellLuminance for the heatmaps of panel row row.
func cellLuminanceIn(t *testing.T, p *schema.Profile, row int) func(panel, layer, head int) float64 {
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
		pl := f.rows[row][panel]
		da := pl.DataCanvas(cells[row][panel])
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

// pixelAt renders p and returns a function giving the colour at data
// coordinates (x, y) of panel (row, col).
func pixelAt(t *testing.T, p *schema.Profile) func(row, col int, x, y float64) (r, g, b uint8) {
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
	return func(row, col int, x, y float64) (uint8, uint8, uint8) {
		pl := f.rows[row][col]
		da := pl.DataCanvas(cells[row][col])
		xOf, yOf := pl.Transforms(&da)
		px := int(float64(xOf(x)) * dpi / 72)
		py := height - int(float64(yOf(y))*dpi/72)
		r, g, b, _ := img.At(px, py).RGBA()
		return uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)
	}
}

// TestNIAHPanelColours: a profile's own probes are drawn as a context
// length x depth grid, green where every needle passed, red where none did,
// and the mean in between.
func TestNIAHPanelColours(t *testing.T) {
	p := testProfile(false)
	p.Probes.Results = []schema.ProbeResult{
		{ContextLength: 256, Depth: 0, Success: true, Recall: 1},
		{ContextLength: 256, Depth: 0, Success: true, Recall: 1},
		{ContextLength: 512, Depth: 0, Success: false, Recall: 0},
		{ContextLength: 256, Depth: 50, Success: false, Recall: 0},
		{ContextLength: 512, Depth: 50, Success: true, Recall: 1},
		{ContextLength: 512, Depth: 50, Success: false, Recall: 0},
	}
	at := pixelAt(t, p)
	// Uncalibrated: the NIAH panels are the second row; columns are lengths
	// (256, 512), rows depths (0, 50).
	if r, g, _ := at(1, 0, 0, 0); g < 0x80 || r > 0x40 {
		t.Errorf("256 tokens, depth 0 (all passed): colour r=%#x g=%#x, want green", r, g)
	}
	if r, g, _ := at(1, 0, 1, 0); r < 0xc0 || g > 0x40 {
		t.Errorf("512 tokens, depth 0 (none passed): colour r=%#x g=%#x, want red", r, g)
	}
	if r, g, _ := at(1, 0, 1, 1); r < 0xc0 || g < 0xc0 {
		t.Errorf("512 tokens, depth 50 (half passed): colour r=%#x g=%#x, want yellow", r, g)
	}
}

// TestKVGroupLines: with 2 KV heads over 4 query heads, a line separates
// query heads 0-1 from 2-3 in both heatmaps, and not elsewhere.
func TestKVGroupLines(t *testing.T) {
	p := testProfile(false)
	p.Model.KVHeads = 2
	at := pixelAt(t, p)
	for col := 0; col < 2; col++ {
		// Layer 1's heads 1 and 2 are dim, so the blue line stands out.
		if r, g, b := at(0, col, 1.5, 1); !(b > 0x80 && int(b) > int(r)+0x40) {
			t.Errorf("panel %d: no KV-group line between heads 1 and 2 (colour %#x %#x %#x)", col, r, g, b)
		}
		if r, g, b := at(0, col, 0.5, 1); b > 0x80 && int(b) > int(r)+0x40 {
			t.Errorf("panel %d: a KV-group line between heads 0 and 1 (colour %#x %#x %#x)", col, r, g, b)
		}
	}
}

func TestFigureTitle(t *testing.T) {
	p := testProfile(false)
	p.Model = schema.Model{Architecture: "llama", KVHeads: 2}
	p.Probes = schema.ProbeInfo{Run: 40, Successful: 31, Scoring: "greedy"}
	if got, want := figureTitle(p, "Llama-3.2-1B"), "Llama-3.2-1B - 3 layers x 4 query heads (2 KV heads) - 40 probes run, 31 passed the recall gate (greedy)"; got != want {
		t.Errorf("title = %q, want %q", got, want)
	}
	p.Model.ID = "meta-llama/Llama-3.2-1B"
	if got, want := figureTitle(p, ""), "meta-llama/Llama-3.2-1B - 3 layers x 4 query heads (2 KV heads) - 40 probes run, 31 passed the recall gate (greedy)"; got != want {
		t.Errorf("title from the id = %q, want %q", got, want)
	}
	p.Model.ID = ""
	if got, want := figureTitle(p, ""), "llama - 3 layers x 4 query heads (2 KV heads) - 40 probes run, 31 passed the recall gate (greedy)"; got != want {
		t.Errorf("title without a name = %q, want %q", got, want)
	}
}

// TestWholeTicks: a token axis is labelled with whole numbers only.
func TestWholeTicks(t *testing.T) {
	ticks := wholeTicks{}.Ticks(0, 368)
	labelled := 0
	for _, tk := range ticks {
		if tk.Value != float64(int(tk.Value)) {
			t.Errorf("tick at %g is not a whole number", tk.Value)
		}
		if tk.Label != "" {
			labelled++
			if strings.Contains(tk.Label, ".") {
				t.Errorf("label %q has decimals", tk.Label)
			}
		}
	}
	if labelled < 2 {
		t.Fatalf("only %d labelled ticks on 0..368: %v", labelled, ticks)
	}
}

// TestStabilityPanel draws the top-k probability heatmap in the row after
// the calibration bars: brighter cells for heads more often in the top-k.
func TestStabilityPanel(t *testing.T) {
	p := testProfile(true)
	p.Heads.Stability = &schema.Stability{
		Method: "bootstrap", Resamples: 200, TopK: 2, Probes: 3,
		TopKProbability: [][]float64{{0.1, 0.9, 1, 0}, {1, 0.5, 0.5, 0}, {0, 0.25, 0.75, 1}},
		TopKJaccard:     []float64{0.8, 0.5, 0.9},
	}
	f, err := layout(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.rows) < 3 || f.bars[2][0] == nil {
		t.Fatalf("%d rows of panels, want heatmaps, calibration, then stability", len(f.rows))
	}
	lum := cellLuminanceIn(t, p, 2)
	for layer, row := range p.Heads.Stability.TopKProbability {
		for a := range row {
			for b := range row {
				if row[a] > row[b] && lum(0, layer, a) <= lum(0, layer, b) {
					t.Errorf("layer %d: head %d (p %g) is not brighter than head %d (p %g)", layer, a, row[a], b, row[b])
				}
			}
		}
	}
}
