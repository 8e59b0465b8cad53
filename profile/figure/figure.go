// Package figure draws a profile as pictures: a layer x head heatmap of the
// semantic retrieval (SRH) scores beside the classic retrieval scores, as the
// CompressKV paper shows them, and, when the profile is calibrated, bar
// charts of the layer scores and the per-layer budgets, and, when the profile
// carries a ranking-stability bootstrap, each head's chance of being in its
// layer's top-k beside each layer's mean top-k Jaccard.
//
// It reads a schema.Profile only; it never recomputes scores.
package figure

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/compresskv/compresskv/internal/atomicfile"
	"github.com/compresskv/compresskv/profile/schema"
)

// Options control the figure.
type Options struct {
	// Format is "png" or "svg"; empty means: from the output file extension.
	Format string
	// Budget is the average budget whose per-layer budgets are drawn; 0 picks
	// 256 when present, else the smallest stored.
	Budget int
	// Model names the model in the figure's title; empty: the profile's
	// Hugging Face id, else its architecture.
	Model string
	// Width and Height of the whole figure; zero means a size that fits the
	// model's shape.
	Width, Height vg.Length
}

// Save draws p into path (PNG or SVG by extension or Options.Format),
// atomically.
func Save(p *schema.Profile, path string, o Options) error {
	if o.Format == "" {
		o.Format = strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	}
	if o.Format != "png" && o.Format != "svg" {
		return fmt.Errorf("%s: unsupported figure format %q (use .png or .svg)", path, o.Format)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return Draw(w, p, o)
	})
}

// Draw renders the figure of p to w in o.Format ("png" or "svg").
func Draw(w io.Writer, p *schema.Profile, o Options) error {
	f, err := layout(p, o)
	if err != nil {
		return err
	}
	canvas, err := draw.NewFormattedCanvas(f.width, f.height, o.Format)
	if err != nil {
		return err
	}
	f.draw(draw.New(canvas))
	_, err = canvas.WriteTo(w)
	return err
}

// figureLayout is the grid of panels, their colour bars and the page.
type figureLayout struct {
	title         string
	rows          [][]*plot.Plot       // [0] the two heatmaps, then the bar charts when calibrated, the stability panels when present, the probes' NIAH grid
	bars          [][]palette.ColorMap // colour map of each panel's colour bar, nil for none
	tiles         draw.Tiles
	width, height vg.Length
}

// titleHeight is the band above the panels that holds the figure's title.
const titleHeight = 9 * vg.Millimeter

// colourBarWidth is the part of a heatmap's cell given to its colour bar.
const colourBarWidth = 14 * vg.Millimeter

// layout builds the panels of p: the SRH and retrieval heatmaps, the layer
// score and budget bars of a calibrated profile, the top-k probability
// heatmap and Jaccard bars of a profile with a stability bootstrap, and the
// pass/fail grid of the probes the scores were measured on.
func layout(p *schema.Profile, o Options) (*figureLayout, error) {
	if len(p.Heads.SRH) == 0 {
		return nil, fmt.Errorf("profile has no head scores to draw")
	}
	groups := p.Model.KVHeads
	srh, srhMap := heatmap(p.Heads.SRH, "Semantic retrieval score (SRH)", groups)
	ret, retMap := heatmap(p.Heads.Retrieval, "Classic retrieval score", groups)
	f := &figureLayout{
		title: figureTitle(p, o.Model),
		rows:  [][]*plot.Plot{{srh, ret}},
		bars:  [][]palette.ColorMap{{srhMap, retMap}},
		width: o.Width, height: o.Height,
	}
	if c := p.Calibration; c != nil && len(c.LayerScores) > 0 {
		row := []*plot.Plot{bars(c.LayerScores, "Layer score (normalised eviction error)", "score", false)}
		if avg, budgets, ok := pickBudget(c.Budgets, o.Budget); ok {
			b := make([]float64, len(budgets))
			for i, v := range budgets {
				b[i] = float64(v)
			}
			row = append(row, bars(b, fmt.Sprintf("Per-layer budget (average %d tokens)", avg), "tokens", true))
		} else {
			row = append(row, plot.New())
		}
		f.rows = append(f.rows, row)
		f.bars = append(f.bars, []palette.ColorMap{nil, nil})
	}
	if st := p.Heads.Stability; st != nil && len(st.TopKProbability) > 0 {
		prob, probMap := heatmap(st.TopKProbability, fmt.Sprintf("P(head in the layer's SRH top-%d), %d bootstrap resamples", st.TopK, st.Resamples), groups)
		jaccard := bars(st.TopKJaccard, fmt.Sprintf("Top-%d Jaccard (1 = the same heads in every resample)", st.TopK), "mean Jaccard", false)
		f.rows = append(f.rows, []*plot.Plot{prob, jaccard})
		f.bars = append(f.bars, []palette.ColorMap{probMap, nil})
	}
	if len(p.Probes.Results) > 0 {
		pass, passMap := niah(p.Probes.Results, "Probes passing the recall gate (fraction of needles)", func(r schema.ProbeResult) float64 {
			if r.Success {
				return 1
			}
			return 0
		})
		recall, recallMap := niah(p.Probes.Results, "Mean ROUGE-1 recall of the response", func(r schema.ProbeResult) float64 { return r.Recall })
		f.rows = append(f.rows, []*plot.Plot{pass, recall})
		f.bars = append(f.bars, []palette.ColorMap{passMap, recallMap})
	}
	if f.width == 0 {
		f.width = 28 * vg.Centimeter
	}
	if f.height == 0 {
		f.height = vg.Length(len(f.rows))*11*vg.Centimeter + titleHeight
	}
	f.tiles = draw.Tiles{Rows: len(f.rows), Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter*5 + titleHeight, PadBottom: vg.Millimeter * 5, PadLeft: vg.Millimeter * 5, PadRight: vg.Millimeter * 5}
	return f, nil
}

// figureTitle names the model, its shape and how many probes the scores
// rest on, so a figure pasted into a paper or an issue explains itself.
func figureTitle(p *schema.Profile, name string) string {
	if name == "" {
		name = p.Model.ID
	}
	if name == "" {
		name = p.Model.Architecture
	}
	if name == "" {
		name = "model"
	}
	shape := fmt.Sprintf("%d layers x %d query heads", len(p.Heads.SRH), len(p.Heads.SRH[0]))
	if g := p.Model.KVHeads; g > 0 {
		shape += fmt.Sprintf(" (%d KV heads)", g)
	}
	t := name + " - " + shape
	if pi := p.Probes; pi.Run > 0 || pi.Successful > 0 {
		t += fmt.Sprintf(" - %d probes run, %d passed the recall gate", pi.Run, pi.Successful)
		if pi.Scoring != "" {
			t += " (" + pi.Scoring + ")"
		}
	}
	return t
}

// draw renders the title and every panel onto dc and returns the canvases
// the panels were drawn in (a heatmap's excludes its colour bar).
func (f *figureLayout) draw(dc draw.Canvas) [][]draw.Canvas {
	cells := plot.Align(f.rows, f.tiles, dc)
	for i, row := range f.rows {
		for j, pl := range row {
			if cm := f.bars[i][j]; cm != nil {
				cell := cells[i][j]
				width := cell.Max.X - cell.Min.X
				cells[i][j] = draw.Crop(cell, 0, -colourBarWidth, 0, 0)
				colourBar(cm).Draw(draw.Crop(cell, width-colourBarWidth+4*vg.Millimeter, 0, 0, 0))
			}
			pl.Draw(cells[i][j])
		}
	}
	sty := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 13), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YTop}
	dc.FillText(sty, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - 3*vg.Millimeter}, f.title)
	return cells
}

// colourBar is a vertical colour scale for a heatmap's colour map.
func colourBar(cm palette.ColorMap) *plot.Plot {
	pl := plot.New()
	pl.HideX()
	pl.Y.Padding = 0
	pl.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true})
	pl.Y.Min, pl.Y.Max = cm.Min(), cm.Max()
	return pl
}

// grid adapts a [layer][head] matrix to plotter.GridXYZ: columns are heads,
// rows are layers.
type grid [][]float64

func (g grid) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g grid) Z(c, r int) float64 { return g[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// heatmap draws a [layer][head] matrix; kvGroups > 1 (and fewer than the
// heads) draws a line between the query heads of consecutive KV heads, the
// unit a GQA engine evicts by. It returns the colour map for the colour bar.
func heatmap(m [][]float64, title string, kvGroups int) (*plot.Plot, palette.ColorMap) {
	pl := plot.New()
	pl.Title.Text = title
	pl.X.Label.Text = "query head"
	pl.Y.Label.Text = "layer"
	if len(m) == 0 || len(m[0]) == 0 {
		return pl, nil
	}
	cmap := moreland.ExtendedBlackBody()
	maxZ := 0.0
	for _, row := range m {
		for _, v := range row {
			if !math.IsNaN(v) && v > maxZ {
				maxZ = v
			}
		}
	}
	if maxZ == 0 {
		maxZ = 1
	}
	// The black-body map ends in white; stretch its top so the strongest
	// head is bright yellow and stays visible on a white page.
	top := maxZ * 1.25
	cmap.SetMin(0)
	cmap.SetMax(top)
	h := plotter.NewHeatMap(grid(m), cmap.Palette(255))
	h.Min, h.Max = 0, top
	pl.Add(h)
	heads := len(m[0])
	if kvGroups > 1 && kvGroups < heads && heads%kvGroups == 0 {
		per := heads / kvGroups
		pl.X.Label.Text = fmt.Sprintf("query head (lines: %d KV-head groups of %d)", kvGroups, per)
		for g := 1; g < kvGroups; g++ {
			x := float64(g*per) - 0.5
			line, err := plotter.NewLine(plotter.XYs{{X: x, Y: -0.5}, {X: x, Y: float64(len(m)) - 0.5}})
			if err == nil {
				line.Color = color.RGBA{R: 0x40, G: 0xa0, B: 0xff, A: 0xff}
				line.Width = vg.Points(1.2)
				pl.Add(line)
			}
		}
	}
	pl.X.Tick.Marker = intTicks(heads)
	pl.Y.Tick.Marker = intTicks(len(m))
	return pl, cmap
}

// niah draws the probes' needle-in-a-haystack grid, context length x depth,
// each cell the mean of value over the probes (needles) of that cell, on a
// red (0) to green (1) scale as the reference's NIAH pictures do.
func niah(results []schema.ProbeResult, title string, value func(schema.ProbeResult) float64) (*plot.Plot, palette.ColorMap) {
	var lengths []int
	var depths []float64
	seenL, seenD := map[int]bool{}, map[float64]bool{}
	for _, r := range results {
		if !seenL[r.ContextLength] {
			seenL[r.ContextLength] = true
			lengths = append(lengths, r.ContextLength)
		}
		if !seenD[r.Depth] {
			seenD[r.Depth] = true
			depths = append(depths, r.Depth)
		}
	}
	sort.Ints(lengths)
	sort.Float64s(depths)
	col := map[int]int{}
	for i, l := range lengths {
		col[l] = i
	}
	row := map[float64]int{}
	for i, d := range depths {
		row[d] = i
	}
	sum := make([][]float64, len(depths))
	count := make([][]int, len(depths))
	for i := range sum {
		sum[i] = make([]float64, len(lengths))
		count[i] = make([]int, len(lengths))
	}
	for _, r := range results {
		sum[row[r.Depth]][col[r.ContextLength]] += value(r)
		count[row[r.Depth]][col[r.ContextLength]]++
	}
	for i := range sum {
		for j := range sum[i] {
			if count[i][j] == 0 {
				sum[i][j] = math.NaN() // a cell no probe ran in is left blank
			} else {
				sum[i][j] /= float64(count[i][j])
			}
		}
	}
	pl := plot.New()
	pl.Title.Text = title
	pl.X.Label.Text = "context length (tokens)"
	pl.Y.Label.Text = "needle depth (%)"
	cmap := passFailMap{}
	h := plotter.NewHeatMap(grid(sum), cmap.Palette(255))
	h.Min, h.Max = 0, 1
	h.NaN = color.White
	pl.Add(h)
	lengthLabels := make([]string, len(lengths))
	for i, l := range lengths {
		lengthLabels[i] = strconv.Itoa(l)
	}
	depthLabels := make([]string, len(depths))
	for i, d := range depths {
		depthLabels[i] = strconv.FormatFloat(d, 'f', -1, 64)
	}
	pl.X.Tick.Marker = labelTicks(lengthLabels)
	pl.Y.Tick.Marker = labelTicks(depthLabels)
	return pl, cmap
}

// passFailMap runs from red (0: every needle missed) through yellow to
// green (1: every needle retrieved).
type passFailMap struct{}

func (passFailMap) At(v float64) (color.Color, error) {
	v = math.Max(0, math.Min(1, v))
	if v < 0.5 {
		return color.RGBA{R: 0xd7, G: uint8(0x30 + (0xd0-0x30)*v*2), B: 0x27, A: 0xff}, nil
	}
	return color.RGBA{R: uint8(0xd7 - (0xd7-0x1a)*(v-0.5)*2), G: uint8(0xd0 - (0xd0-0x98)*(v-0.5)*2), B: uint8(0x27 + (0x50-0x27)*(v-0.5)*2), A: 0xff}, nil
}
func (passFailMap) Max() float64     { return 1 }
func (passFailMap) SetMax(float64)   {}
func (passFailMap) Min() float64     { return 0 }
func (passFailMap) SetMin(float64)   {}
func (passFailMap) Alpha() float64   { return 1 }
func (passFailMap) SetAlpha(float64) {}
func (m passFailMap) Palette(n int) palette.Palette {
	colours := make([]color.Color, n)
	for i := range colours {
		colours[i], _ = m.At(float64(i) / float64(max(1, n-1)))
	}
	return palette.Palette(paletteColours(colours))
}

// paletteColours adapts a colour slice to palette.Palette.
type paletteColours []color.Color

func (p paletteColours) Colors() []color.Color { return p }

// bars draws one bar per layer; integer labels the value axis with whole
// numbers only (token counts are never 250.00).
func bars(values []float64, title, unit string, integer bool) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = title
	pl.X.Label.Text = "layer"
	pl.Y.Label.Text = unit
	b, err := plotter.NewBarChart(plotter.Values(values), vg.Points(max(2, 300/float64(len(values)+1))))
	if err != nil {
		return pl
	}
	b.Color = palette.Heat(3, 1).Colors()[1]
	b.LineStyle.Width = 0
	pl.Add(b)
	pl.X.Tick.Marker = intTicks(len(values))
	if integer {
		pl.Y.Tick.Marker = wholeTicks{}
	}
	return pl
}

// wholeTicks keeps the default value ticks that fall on whole numbers and
// labels them without decimals.
type wholeTicks struct{}

func (wholeTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(min, max) {
		if t.Value != math.Trunc(t.Value) {
			continue
		}
		if t.Label != "" {
			t.Label = strconv.FormatInt(int64(t.Value), 10)
		}
		out = append(out, t)
	}
	return out
}

// labelTicks labels positions 0..len(labels)-1 with the given texts, thinned
// so they stay legible.
func labelTicks(labels []string) plot.Ticker {
	step := 1
	for len(labels)/step > 12 {
		step *= 2
	}
	return plot.TickerFunc(func(min, max float64) []plot.Tick {
		ticks := make([]plot.Tick, len(labels))
		for i, l := range labels {
			ticks[i].Value = float64(i)
			if i%step == 0 {
				ticks[i].Label = l
			}
		}
		return ticks
	})
}

// intTicks labels integer positions 0..n-1, thinned so labels stay legible.
func intTicks(n int) plot.Ticker {
	step := 1
	for n/step > 16 {
		step *= 2
	}
	return plot.TickerFunc(func(min, max float64) []plot.Tick {
		var ticks []plot.Tick
		for i := 0; i < n; i++ {
			t := plot.Tick{Value: float64(i)}
			if i%step == 0 {
				t.Label = strconv.Itoa(i)
			}
			ticks = append(ticks, t)
		}
		return ticks
	})
}

// pickBudget chooses which stored average budget to draw.
func pickBudget(budgets map[string][]int, want int) (int, []int, bool) {
	if want > 0 {
		b, ok := budgets[strconv.Itoa(want)]
		return want, b, ok
	}
	if b, ok := budgets["256"]; ok {
		return 256, b, true
	}
	var avgs []int
	for k := range budgets {
		if v, err := strconv.Atoi(k); err == nil {
			avgs = append(avgs, v)
		}
	}
	if len(avgs) == 0 {
		return 0, nil, false
	}
	sort.Ints(avgs)
	return avgs[0], budgets[strconv.Itoa(avgs[0])], true
}
