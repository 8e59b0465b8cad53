// Package figure draws a profile as pictures: a layer x head heatmap of the
// semantic retrieval (SRH) scores beside the classic retrieval scores, as the
// CompressKV paper shows them, and, when the profile is calibrated, bar
// charts of the layer scores and the per-layer budgets.
//
// It reads a schema.Profile only; it never recomputes scores.
package figure

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
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

// figureLayout is the grid of panels and the page size.
type figureLayout struct {
	rows          [][]*plot.Plot // [0] the two heatmaps, [1] the bar charts when calibrated
	tiles         draw.Tiles
	width, height vg.Length
}

// layout builds the panels of p: the SRH and retrieval heatmaps and, for a
// calibrated profile, the layer score and budget bars.
func layout(p *schema.Profile, o Options) (*figureLayout, error) {
	if len(p.Heads.SRH) == 0 {
		return nil, fmt.Errorf("profile has no head scores to draw")
	}
	rows := [][]*plot.Plot{{
		heatmap(p.Heads.SRH, "Semantic retrieval score (SRH)"),
		heatmap(p.Heads.Retrieval, "Classic retrieval score"),
	}}
	if c := p.Calibration; c != nil && len(c.LayerScores) > 0 {
		row := []*plot.Plot{bars(c.LayerScores, "Layer score (normalised eviction error)", "score")}
		if avg, budgets, ok := pickBudget(c.Budgets, o.Budget); ok {
			b := make([]float64, len(budgets))
			for i, v := range budgets {
				b[i] = float64(v)
			}
			row = append(row, bars(b, fmt.Sprintf("Per-layer budget (average %d)", avg), "tokens"))
		} else {
			row = append(row, plot.New())
		}
		rows = append(rows, row)
	}
	f := &figureLayout{rows: rows, width: o.Width, height: o.Height}
	if f.width == 0 {
		f.width = 26 * vg.Centimeter
	}
	if f.height == 0 {
		f.height = vg.Length(len(rows)) * 11 * vg.Centimeter
	}
	f.tiles = draw.Tiles{Rows: len(rows), Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 5, PadBottom: vg.Millimeter * 5, PadLeft: vg.Millimeter * 5, PadRight: vg.Millimeter * 5}
	return f, nil
}

// draw renders every panel onto dc and returns the panels' canvases.
func (f *figureLayout) draw(dc draw.Canvas) [][]draw.Canvas {
	cells := plot.Align(f.rows, f.tiles, dc)
	for i, row := range f.rows {
		for j, pl := range row {
			pl.Draw(cells[i][j])
		}
	}
	return cells
}

// grid adapts a [layer][head] matrix to plotter.GridXYZ: columns are heads,
// rows are layers.
type grid [][]float64

func (g grid) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g grid) Z(c, r int) float64 { return g[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

func heatmap(m [][]float64, title string) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = title
	pl.X.Label.Text = "query head"
	pl.Y.Label.Text = "layer"
	if len(m) == 0 || len(m[0]) == 0 {
		return pl
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
	pl.X.Tick.Marker = intTicks(len(m[0]))
	pl.Y.Tick.Marker = intTicks(len(m))
	return pl
}

func bars(values []float64, title, unit string) *plot.Plot {
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
	return pl
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
