package figure

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/calibrate/eval"
)

// doc is a two-method eval: full recalls everything, streaming nothing.
func doc() *eval.Document {
	d := &eval.Document{Settings: eval.Settings{Methods: []eval.Method{eval.Full, eval.Streaming}, Budgets: []int{64, 128}}}
	for _, l := range []int{256, 512} {
		for _, dp := range []float64{0, 50, 100} {
			d.Cells = append(d.Cells, eval.Cell{Method: eval.Full, ContextLength: l, Depth: dp, Probes: 1, MeanRecall: 1, SuccessRate: 1})
			for _, b := range []int{64, 128} {
				d.Cells = append(d.Cells, eval.Cell{Method: eval.Streaming, Budget: b, ContextLength: l, Depth: dp, Probes: 1})
			}
		}
	}
	d.Summary = []eval.Aggregate{{Method: eval.Full, MeanRecall: 1}, {Method: eval.Streaming, Budget: 64}, {Method: eval.Streaming, Budget: 128}}
	return d
}

// The heatmaps paint recall 1 blue and recall 0 red (the paper's maps):
// both colours must be on the page, in the amounts two 2x3 panels give.
func TestDrawColours(t *testing.T) {
	var buf bytes.Buffer
	if err := Draw(&buf, doc(), Options{Format: "png"}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	blue, red := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			switch {
			case bl > 150 && r < 90 && g < 110:
				blue++
			case r > 150 && g < 40 && bl < 60:
				red++
			}
		}
	}
	if blue < 5000 || red < 5000 {
		t.Errorf("%d blue and %d red pixels; want both heatmaps painted (> 5000 each)", blue, red)
	}
	// full is the top-left panel, streaming the top-right one.
	at := func(fx, fy float64) (r, g, bl uint32) {
		r, g, bl, _ = img.At(b.Min.X+int(fx*float64(b.Dx())), b.Min.Y+int(fy*float64(b.Dy()))).RGBA()
		return r >> 8, g >> 8, bl >> 8
	}
	if r, _, bl := at(0.28, 0.25); bl <= r {
		t.Errorf("full's heatmap (recall 1) at its centre is rgb(%d, _, %d), want blue", r, bl)
	}
	if r, _, bl := at(0.78, 0.25); r <= bl {
		t.Errorf("streaming's heatmap (recall 0) at its centre is rgb(%d, _, %d), want red", r, bl)
	}
	if err := Draw(&bytes.Buffer{}, doc(), Options{Format: "svg"}); err != nil {
		t.Errorf("svg: %v", err)
	}
}

func TestDrawRejects(t *testing.T) {
	if err := Draw(&bytes.Buffer{}, doc(), Options{Format: "png", Budget: 96}); err == nil || !strings.Contains(err.Error(), "budget 96 was not evaluated") {
		t.Errorf("unknown budget: %v", err)
	}
	if err := Draw(&bytes.Buffer{}, &eval.Document{}, Options{Format: "png"}); err == nil || !strings.Contains(err.Error(), "no results") {
		t.Errorf("empty document: %v", err)
	}
	if err := Save(doc(), "f.gif", Options{}); err == nil || !strings.Contains(err.Error(), "unsupported figure format") {
		t.Errorf("gif: %v", err)
	}
}
