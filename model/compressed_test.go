package model_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
)

// subsetObserver records, at layer 0 of every decode step, either the
// projected attention output (a compressed session) or the output
// AttendSubset computes over keep plus the positions decoded so far (the
// full session).
type subsetObserver struct {
	keep      []int // positions a full session's subset attends to; nil: record Projected
	prompt    int
	projected [][]float32
	t         *testing.T
}

func (o *subsetObserver) WantProbs() bool               { return false }
func (o *subsetObserver) PrefillEnd(*model.PrefillView) {}
func (o *subsetObserver) DecodeStep(d *model.DecodeView) {
	if d.Layer != 0 {
		return
	}
	if o.keep == nil {
		o.projected = append(o.projected, append([]float32(nil), d.Projected...))
		return
	}
	keep := append([]int(nil), o.keep...)
	for p := o.prompt; p <= d.Pos; p++ {
		keep = append(keep, p)
	}
	pre, post := make([]float32, len(d.Query)), make([]float32, len(d.Projected))
	if err := d.AttendSubset(keep, pre, post); err != nil {
		o.t.Fatal(err)
	}
	o.projected = append(o.projected, post)
}

func sameKeep(layers, kvHeads int, pos []int) [][][]int {
	keep := make([][][]int, layers)
	for l := range keep {
		keep[l] = make([][]int, kvHeads)
		for g := range keep[l] {
			keep[l][g] = pos
		}
	}
	return keep
}

// Keeping every position must reproduce the full session bit for bit, and
// keeping a subset must give layer 0 exactly the attention over that
// subset (plus the decoded tokens), which AttendSubset computes
// independently.
func TestCompressed(t *testing.T) {
	for _, dt := range []model.CacheDType{model.CacheF32, model.CacheBF16} {
		m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
		prompt := []int{1, 5, 9, 2, 7, 3, 3, 8, 4, 6, 11, 2, 5, 13, 1, 9, 4, 2, 10, 12}
		cfg := m.Config()
		full := modeltest.NewSession(t, m, model.SessionOptions{CacheDType: dt})
		if err := full.Prefill(t.Context(), prompt, nil); err != nil {
			t.Fatal(err)
		}
		all := make([]int, len(prompt))
		for i := range all {
			all[i] = i
		}
		same, err := full.Compressed(sameKeep(cfg.NumLayers, cfg.NumKVHeads, all))
		if err != nil {
			t.Fatal(err)
		}
		ref := modeltest.NewSession(t, m, model.SessionOptions{CacheDType: dt})
		want := modeltest.Greedy(t, ref, prompt, 6, nil)
		got := modeltest.Greedy(t, same, nil, 6, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("%v: keep-all compressed session generated %v, the full one %v", dt, got, want)
		}
		if same.Len() != len(prompt)+5 || full.Len() != len(prompt) {
			t.Fatalf("%v: lengths %d and %d after decoding, want %d and %d (the source untouched)", dt, same.Len(), full.Len(), len(prompt)+5, len(prompt))
		}

		subset := []int{0, 1, 4, 9, 15, 17, 18, 19}
		keep := sameKeep(cfg.NumLayers, cfg.NumKVHeads, subset)
		// Another subset for KV head 1 of the last layer: heads may differ.
		keep[cfg.NumLayers-1][1] = []int{0, 2, 3, 5, 6, 7, 18, 19}
		cut, err := full.Compressed(keep)
		if err != nil {
			t.Fatal(err)
		}
		for l := range cfg.NumLayers {
			if cut.Kept(l) != len(subset) {
				t.Fatalf("%v: layer %d keeps %d rows, want %d", dt, l, cut.Kept(l), len(subset))
			}
		}
		rec := &subsetObserver{}
		if err := cut.Step(3, rec); err != nil {
			t.Fatal(err)
		}
		if err := cut.Step(8, rec); err != nil {
			t.Fatal(err)
		}
		chk := &subsetObserver{keep: subset, prompt: len(prompt), t: t}
		if err := full.Step(3, chk); err != nil {
			t.Fatal(err)
		}
		if err := full.Step(8, chk); err != nil {
			t.Fatal(err)
		}
		for step := range rec.projected {
			want := make([]float64, len(chk.projected[step]))
			for i, v := range chk.projected[step] {
				want[i] = float64(v)
			}
			if e := relErr(rec.projected[step], want); e > 1e-5 {
				t.Fatalf("%v: step %d: layer 0 output of the compressed cache differs from the subset attention by %.3g", dt, step, e)
			}
		}
		if cut.Kept(0) != len(subset)+2 || cut.Len() != len(prompt)+2 {
			t.Fatalf("%v: after two steps: %d rows, length %d; want %d, %d", dt, cut.Kept(0), cut.Len(), len(subset)+2, len(prompt)+2)
		}
	}
}

func TestCompressedRejects(t *testing.T) {
	m, _ := loadRandom(t, tinyConfig("llama", 32, 4, 2, 8, ""), kernels.F32)
	s := modeltest.NewSession(t, m, model.SessionOptions{})
	if _, err := s.Compressed(sameKeep(m.Config().NumLayers, 2, []int{0})); err == nil || !strings.Contains(err.Error(), "nothing to continue") {
		t.Fatalf("empty session: %v", err)
	}
	if err := s.Prefill(t.Context(), []int{1, 2, 3, 4}, nil); err != nil {
		t.Fatal(err)
	}
	uneven := sameKeep(m.Config().NumLayers, 2, []int{0, 1})
	uneven[0][1] = []int{0}
	for name, tc := range map[string]struct {
		keep [][][]int
		want string
	}{
		"layers":     {sameKeep(1, 2, []int{0}), "layers"},
		"kv heads":   {sameKeep(m.Config().NumLayers, 3, []int{0}), "KV heads"},
		"uneven":     {uneven, "KV head 1 keeps 1"},
		"beyond":     {sameKeep(m.Config().NumLayers, 2, []int{0, 4}), "0..3"},
		"descending": {sameKeep(m.Config().NumLayers, 2, []int{2, 1}), "ascending"},
	} {
		if _, err := s.Compressed(tc.keep); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
	c, err := s.Compressed(sameKeep(m.Config().NumLayers, 2, []int{0, 3}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compressed(sameKeep(m.Config().NumLayers, 2, []int{0})); err == nil || !strings.Contains(err.Error(), "already compressed") {
		t.Fatalf("compressing twice: %v", err)
	}
}
