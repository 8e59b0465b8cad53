// Package figure draws an eval document as the CompressKV paper shows
// needle-in-a-haystack results: per method, a heatmap of context length x
// needle depth coloured by mean ROUGE-1 recall (with a colour bar) at one
// budget, and a line per method of mean recall against the average budget.
//
// It reads an eval.Document only; it never reruns anything.
package figure

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/compresskv/compresskv/calibrate/eval"
	"github.com/compresskv/compresskv/internal/atomicfile"
)

// Options control the figure.
type Options struct {
	Format string // "png" or "svg"; empty: from the file extension
	Budget int    // budget of the heatmaps; 0: the smallest evaluated
}

// Save draws d into path (PNG or SVG), atomically.
func Save(d *eval.Document, path string, o Options) error {
	if o.Format == "" {
		o.Format = strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	}
	if o.Format != "png" && o.Format != "svg" {
		return fmt.Errorf("%s: unsupported figure format %q (use .png or .svg)", path, o.Format)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return Draw(w, d, o) })
}

// Draw renders the figure of d to w.
func Draw(w io.Writer, d *eval.Document, o Options) error {
	rows, err := panels(d, o)
	if err != nil {
		return err
	}
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	for i := range rows {
		for len(rows[i]) < cols {
			rows[i] = append(rows[i], blank())
		}
	}
	width := vg.Length(cols) * 9 * vg.Centimeter
	height := vg.Length(len(rows)) * 8 * vg.Centimeter
	canvas, err := draw.NewFormattedCanvas(width, height, o.Format)
	if err != nil {
		return err
	}
	tiles := draw.Tiles{Rows: len(rows), Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: 5 * vg.Millimeter, PadBottom: 5 * vg.Millimeter, PadLeft: 5 * vg.Millimeter, PadRight: 5 * vg.Millimeter}
	dc := draw.New(canvas)
	cells := plot.Align(rows, tiles, dc)
	for i, row := range rows {
		for j, pl := range row {
			pl.Draw(cells[i][j])
		}
	}
	_, err = canvas.WriteTo(w)
	return err
}

// blank is an empty panel with its axes hidden.
func blank() *plot.Plot {
	pl := plot.New()
	pl.HideAxes()
	return pl
}

// panels lays out the heatmaps (one per method, at most 4 per row), the
// colour bar, and the recall-vs-budget lines.
func panels(d *eval.Document, o Options) ([][]*plot.Plot, error) {
	if len(d.Cells) == 0 {
		return nil, fmt.Errorf("eval document holds no results to draw")
	}
	budget := o.Budget
	if budget == 0 && len(d.Settings.Budgets) > 0 {
		budget = slices.Min(d.Settings.Budgets)
	}
	if budget != 0 && !slices.Contains(d.Settings.Budgets, budget) {
		return nil, fmt.Errorf("budget %d was not evaluated (budgets: %v)", budget, d.Settings.Budgets)
	}
	lengths, depths := axes(d)
	cmap := moreland.SmoothBlueRed()
	cmap.SetMin(0)
	cmap.SetMax(1)
	pal := reversed{cmap.Palette(101)} // red for lost answers, blue for kept ones, as the paper's maps
	var maps []*plot.Plot
	for _, m := range d.Settings.Methods {
		b := budget
		if m == eval.Full {
			b = 0
		}
		z := make([][]float64, len(depths)) // [depth][length]
		for i := range z {
			z[i] = make([]float64, len(lengths))
		}
		for _, c := range d.Cells {
			if c.Method == m && c.Budget == b {
				z[slices.Index(depths, c.Depth)][slices.Index(lengths, c.ContextLength)] = c.MeanRecall
			}
		}
		title := string(m)
		if m != eval.Full {
			title += fmt.Sprintf(" (budget %d)", b)
		}
		maps = append(maps, heatmap(z, lengths, depths, title, pal))
	}
	var rows [][]*plot.Plot
	for len(maps) > 0 {
		n := min(4, len(maps))
		rows = append(rows, maps[:n])
		maps = maps[n:]
	}
	rows = append(rows, []*plot.Plot{colourBar(pal), lines(d)})
	return rows, nil
}

// reversed flips a palette end for end.
type reversed struct{ palette.Palette }

func (r reversed) Colors() []color.Color {
	c := slices.Clone(r.Palette.Colors())
	slices.Reverse(c)
	return c
}

// axes returns the sorted context lengths and depths of the cells.
func axes(d *eval.Document) ([]int, []float64) {
	var lengths []int
	var depths []float64
	for _, c := range d.Cells {
		if !slices.Contains(lengths, c.ContextLength) {
			lengths = append(lengths, c.ContextLength)
		}
		if !slices.Contains(depths, c.Depth) {
			depths = append(depths, c.Depth)
		}
	}
	slices.Sort(lengths)
	slices.Sort(depths)
	return lengths, depths
}

// grid adapts [depth][length] recalls to plotter.GridXYZ.
type grid [][]float64

func (g grid) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g grid) Z(c, r int) float64 { return g[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

func heatmap(z [][]float64, lengths []int, depths []float64, title string, pal palette.Palette) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = title
	pl.X.Label.Text = "context length (tokens)"
	pl.Y.Label.Text = "needle depth (%)"
	h := plotter.NewHeatMap(grid(z), pal)
	h.Min, h.Max = 0, 1
	pl.Add(h)
	pl.X.Tick.Marker = labels(len(lengths), func(i int) string { return strconv.Itoa(lengths[i]) })
	pl.Y.Tick.Marker = labels(len(depths), func(i int) string { return strconv.FormatFloat(depths[i], 'f', -1, 64) })
	return pl
}

// labels puts label(i) at positions 0..n-1, thinned to about 10.
func labels(n int, label func(int) string) plot.Ticker {
	step := max(1, (n+9)/10)
	return plot.TickerFunc(func(_, _ float64) []plot.Tick {
		var ticks []plot.Tick
		for i := 0; i < n; i++ {
			t := plot.Tick{Value: float64(i)}
			if i%step == 0 {
				t.Label = label(i)
			}
			ticks = append(ticks, t)
		}
		return ticks
	})
}

func colourBar(pal palette.Palette) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = "mean ROUGE-1 recall"
	pl.HideX()
	pl.Y.Min, pl.Y.Max = 0, 1
	pl.Add(&plotter.ColorBar{ColorMap: mapOf(pal), Vertical: true})
	return pl
}

// paletteMap serves a palette as a palette.ColorMap over [0, 1].
type paletteMap struct {
	colors   []color.Color
	min, max float64
}

func mapOf(p palette.Palette) *paletteMap { return &paletteMap{colors: p.Colors(), max: 1} }

func (m *paletteMap) At(v float64) (color.Color, error) {
	i := int((v - m.min) / (m.max - m.min) * float64(len(m.colors)-1))
	return m.colors[max(0, min(len(m.colors)-1, i))], nil
}
func (m *paletteMap) Max() float64                  { return m.max }
func (m *paletteMap) Min() float64                  { return m.min }
func (m *paletteMap) SetMax(v float64)              { m.max = v }
func (m *paletteMap) SetMin(v float64)              { m.min = v }
func (m *paletteMap) Alpha() float64                { return 1 }
func (m *paletteMap) SetAlpha(float64)              {}
func (m *paletteMap) Palette(n int) palette.Palette { return palette.Heat(n, 1) }

// lines draws mean recall against the budget, one line per method (full as
// a flat line across the budgets).
func lines(d *eval.Document) *plot.Plot {
	pl := plot.New()
	pl.Title.Text = "mean recall vs budget"
	pl.X.Label.Text = "average budget (tokens per layer)"
	pl.Y.Label.Text = "mean ROUGE-1 recall"
	pl.X.Scale = plot.LogScale{}
	pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
	pl.Y.Min, pl.Y.Max = 0, 1.05
	pl.Legend.Top = false
	pl.Legend.Left = false
	budgets := slices.Clone(d.Settings.Budgets)
	slices.Sort(budgets)
	colors := palette.Rainbow(max(len(d.Settings.Methods), 2), palette.Blue, palette.Red, 1, 0.9, 1).Colors()
	for i, m := range d.Settings.Methods {
		var pts plotter.XYs
		for _, b := range budgets {
			for _, a := range d.Summary {
				if a.Method == m && (a.Budget == b || (m == eval.Full && a.Budget == 0)) {
					pts = append(pts, plotter.XY{X: float64(b), Y: a.MeanRecall})
				}
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, p, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		l.Color, p.Color = colors[i], colors[i]
		l.Width = vg.Points(1.5)
		if m == eval.Full {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Shape = draw.CircleGlyph{}
		pl.Add(l, p)
		pl.Legend.Add(string(m), l, p)
	}
	return pl
}
