package eval

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/calibrate"
	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/model/synth"
	"github.com/compresskv/compresskv/model/synth/synthtest"
	"github.com/compresskv/compresskv/model/tokenizer"
	"github.com/compresskv/compresskv/needle"
	"github.com/compresskv/compresskv/profile"
	"github.com/compresskv/compresskv/profile/schema"
)

type fixture struct {
	dir    string
	m      *model.Model
	tok    *tokenizer.Tokenizer
	probes []needle.Probe
	sel    *Selector
}

// newFixture writes the synthetic model o and builds probes for it; the
// selector ranks each layer's planted retrieval head first (the ground
// truth a profile should find) and allocates budgets from uniform layer
// scores.
func newFixture(t testing.TB, o synth.Options, lengths []int, depths []float64) *fixture {
	t.Helper()
	dir, _ := synthtest.Write(t, o)
	m, tok := modeltest.Load(t, dir)
	tmpl, err := needle.TemplateFor("answer-prefix")
	if err != nil {
		t.Fatal(err)
	}
	probes, _, err := needle.Build(tok, needle.GenerateHaystack(3, 6000), needle.GenerateNeedles(5, 1), needle.Settings{
		Grid: needle.Grid{ContextLengths: lengths, Depths: depths, Buffer: 50}, Template: tmpl, AddSpecial: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != len(lengths)*len(depths) {
		t.Fatalf("%d probes, want %d", len(probes), len(lengths)*len(depths))
	}
	cfg := m.Config()
	ranking := make([][]int, cfg.NumLayers)
	planted := synth.RetrievalHeads(o)
	for l := range ranking {
		first, ok := planted[l]
		if !ok {
			first = 0
		}
		ranking[l] = []int{first}
		for h := 0; h < cfg.NumHeads; h++ {
			if h != first {
				ranking[l] = append(ranking[l], h)
			}
		}
	}
	scores := make([]float64, cfg.NumLayers)
	for l := range scores {
		scores[l] = float64(l+1) / float64(cfg.NumLayers*(cfg.NumLayers+1)/2)
	}
	budgets := map[int][]int{}
	for _, avg := range []int{32, 48, 64, 128, 256, 512, 4096} {
		budgets[avg] = calibrate.Allocate(scores, avg, 16, 3)
	}
	sel := &Selector{Params: selection.DefaultParams(), Layers: cfg.NumLayers, Heads: calibrate.Heads(ranking, 1), Budgets: budgets}
	return &fixture{dir: dir, m: m, tok: tok, probes: probes, sel: sel}
}

func testHeader(f *fixture, methods []Method, budgets []int) Header {
	h := Header{
		Tool: schema.Tool{Name: "compresskv", Version: "test"}, Model: profile.ModelInfo(f.m),
		Settings: Settings{Methods: methods, Budgets: budgets, Window: 8, Kernel: 5, Pooling: "avg", TopK: 1, MaxNewTokens: 12, SuccessRecall: 0.5,
			KVCache: "f32", KVBytesPerToken: 2 * f.m.Config().NumKVHeads * f.m.Config().HeadDim * 4},
		Grid: Grid{SkipReasons: map[string]int{}},
	}
	for _, p := range f.probes {
		h.Indices = append(h.Indices, p.Index)
	}
	return h
}

var allMethods = []Method{Full, Streaming, SnapKV, PyramidKV, CompressKVUniform, CompressKV}

// full must give exactly what plain greedy generation from the whole
// prompt gives (the `generate` command's loop): same response, same
// success.
func TestFullEqualsGenerate(t *testing.T) {
	f := newFixture(t, synth.DefaultOptions(), []int{128, 256}, []float64{0, 50, 100})
	jobs := Jobs([]Method{Streaming, Full}, []int{32})
	got, err := Run(context.Background(), f.m, f.tok, f.probes, Options{Jobs: jobs, Selector: f.sel, MaxNewTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	nl := func(id int) bool { return id == f.m.Config().EOS[0] || strings.Contains(f.tok.Decode([]int{id}), "\n") }
	successes := 0
	for i, p := range f.probes {
		out := modeltest.Greedy(t, modeltest.NewSession(t, f.m, model.SessionOptions{}), p.IDs, 12, nl)
		var text []int
		for _, id := range out {
			if id != f.m.Config().EOS[0] {
				text = append(text, id)
			}
		}
		response := strings.TrimSpace(f.tok.DecodeSkipSpecial(text))
		success := needle.Rouge1Recall(response, p.Answer) > 0.5
		r := got[i].Results[1]
		if r.Method != Full || r.Response != response || r.Success != success {
			t.Errorf("probe %d: full gave %q (success %v), generate %q (success %v)", p.Index, r.Response, r.Success, response, success)
		}
		if r.KeptFraction != 1 || r.Kept != f.m.Config().NumLayers*(len(p.IDs)-1) {
			t.Errorf("probe %d: full kept %d (%v), want every position", p.Index, r.Kept, r.KeptFraction)
		}
		if success {
			successes++
		}
	}
	if successes != len(f.probes) {
		t.Errorf("the synthetic model answered %d of %d probes with the full cache; the fixture expects all", successes, len(f.probes))
	}
}

// Every compressed cache holds exactly its layer's budget (capped at the
// prompt), every KV head as many; CompressKV's layers sum to the average
// times the layers; the compressed session really holds those rows.
func TestKeptSizesAreTheBudgets(t *testing.T) {
	o := synth.Options{Seed: 1, Layers: 5}
	f := newFixture(t, o, []int{512}, []float64{50})
	p := f.probes[0]
	budgets := []int{32, 64, 128, 4096}
	jobs := Jobs(allMethods, budgets)
	obs := &selectObserver{s: f.sel, jobs: jobs, needKeys: true}
	full := modeltest.NewSession(t, f.m, model.SessionOptions{})
	if err := full.Prefill(t.Context(), p.IDs[:len(p.IDs)-1], obs); err != nil {
		t.Fatal(err)
	}
	if obs.err != nil {
		t.Fatal(obs.err)
	}
	tokens, layers := len(p.IDs)-1, f.m.Config().NumLayers
	for j, job := range jobs {
		sum := 0
		for l := 0; l < layers; l++ {
			want := min(tokens, job.Budget)
			switch job.Method {
			case Full:
				want = tokens
			case PyramidKV:
				want = min(tokens, selection.PyramidBudget(l, layers, job.Budget, 8, tokens, selection.DefaultPyramidBeta))
			case CompressKV:
				want = min(tokens, f.sel.Budgets[job.Budget][l])
			}
			for g, kept := range obs.keep[j][l] {
				if len(kept) != want {
					t.Errorf("%s@%d layer %d KV head %d keeps %d positions, want %d", job.Method, job.Budget, l, g, len(kept), want)
				}
			}
			sum += len(obs.keep[j][l][0])
		}
		if job.Method == CompressKV && job.Budget < tokens/3 && sum != job.Budget*layers {
			t.Errorf("compresskv@%d keeps %d positions over %d layers, want %d", job.Budget, sum, layers, job.Budget*layers)
		}
		c, err := full.Compressed(obs.keep[j])
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l < layers; l++ {
			if c.Kept(l) != len(obs.keep[j][l][0]) {
				t.Errorf("%s@%d: compressed session layer %d holds %d rows, selection kept %d", job.Method, job.Budget, l, c.Kept(l), len(obs.keep[j][l][0]))
			}
		}
	}
	// The pyramid falls and the window is always kept.
	j := 0
	for j < len(jobs) && (jobs[j].Method != PyramidKV || jobs[j].Budget != 64) {
		j++
	}
	if a, b := len(obs.keep[j][0][0]), len(obs.keep[j][layers-1][0]); a <= b {
		t.Errorf("pyramidkv@64: first layer keeps %d, last %d; want falling budgets", a, b)
	}
	for jj := range jobs {
		for l := 0; l < layers; l++ {
			kept := obs.keep[jj][l][0]
			for i := 0; i < 8; i++ {
				if kept[len(kept)-8+i] != tokens-8+i {
					t.Fatalf("%s@%d layer %d: window not kept: ends %v", jobs[jj].Method, jobs[jj].Budget, l, kept[len(kept)-8:])
				}
			}
		}
	}
}

func TestSelectorCheck(t *testing.T) {
	sel := &Selector{Params: selection.DefaultParams(), Layers: 2}
	ranked := &Selector{Params: selection.DefaultParams(), Layers: 2, Heads: [][]int{{0}, {1}}}
	for name, tc := range map[string]struct {
		sel  *Selector
		jobs []Job
		want string
	}{
		"budget at the window": {sel, []Job{{Streaming, 8}}, "more than the observation window 8"},
		"no ranking":           {sel, []Job{{CompressKVUniform, 64}}, "needs a profile's head ranking"},
		"no calibration":       {ranked, []Job{{CompressKV, 64}}, "cannot allocate"},
	} {
		if err := tc.sel.Check(tc.jobs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if _, err := ParseMethods([]string{"full", "h2o"}); err == nil || !strings.Contains(err.Error(), `unknown method "h2o"`) {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := ParseMethods([]string{"full", "Full"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("repeated method: %v", err)
	}
}

// wholeDocument runs methods x budgets over every probe of f (12 new
// tokens each) and returns the run's header, options and document bytes:
// what a resumed or sharded run must reproduce.
func wholeDocument(t *testing.T, f *fixture, methods []Method, budgets []int) (Header, Options, []byte) {
	t.Helper()
	h := testHeader(f, methods, budgets)
	opts := Options{Jobs: Jobs(methods, budgets), Selector: f.sel, MaxNewTokens: 12}
	whole, err := Run(context.Background(), f.m, f.tok, f.probes, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Marshal(Build(&h, whole))
	if err != nil {
		t.Fatal(err)
	}
	return h, opts, want
}

// A probe's method x budget sessions decoded together, in batches of 3 or
// 8, give the bytes of decoding them one at a time, under float32 compute
// (stepped in turn) and bf16 compute (one batched step).
func TestDecodeBatchGivesTheSameBytes(t *testing.T) {
	f := newFixture(t, synth.DefaultOptions(), []int{128, 256}, []float64{0, 100})
	bf16, err := model.Load(f.dir, model.LoadOptions{Compute: model.ComputeBF16})
	if err != nil {
		t.Fatal(err)
	}
	defer bf16.Close()
	methods, budgets := allMethods, []int{32, 64}
	for _, m := range []*model.Model{f.m, bf16} {
		h := testHeader(f, methods, budgets)
		var want []byte
		for _, batch := range []int{1, 3, 0} {
			opts := Options{Jobs: Jobs(methods, budgets), Selector: f.sel, MaxNewTokens: 12, DecodeBatch: batch}
			res, err := Run(context.Background(), m, f.tok, f.probes, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(Build(&h, res))
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = got
			} else if !bytes.Equal(got, want) {
				t.Fatalf("compute %v, decode batch %d: the document differs from one session at a time", m.Compute(), batch)
			}
		}
	}
}

// An interrupted run resumed from its journal, and a run split in shards
// and merged, write the bytes of one uninterrupted run.
func TestResumeAndShardsGiveTheSameBytes(t *testing.T) {
	f := newFixture(t, synth.DefaultOptions(), []int{128, 256}, []float64{0, 50, 100})
	methods, budgets := []Method{Full, Streaming, SnapKV, CompressKV}, []int{32, 64}
	h, opts, want := wholeDocument(t, f, methods, budgets)
	if _, err := Unmarshal(want, "eval.json"); err != nil {
		t.Fatalf("the document does not read back: %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "eval.json.partial.jsonl")
	ck, err := OpenCheckpoint(path, h, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := opts
	o.Checkpoint = ck
	o.Progress = func(p Progress) {
		if p.Done == 2 {
			cancel()
		}
	}
	if _, err := Run(ctx, f.m, f.tok, f.probes, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	ck.Close()
	ck, err = OpenCheckpoint(path, h, true)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Done() != 2 {
		t.Fatalf("resumed %d probes, want 2", ck.Done())
	}
	o = opts
	o.Checkpoint = ck
	resumed, err := Run(context.Background(), f.m, f.tok, f.probes, o)
	if err != nil {
		t.Fatal(err)
	}
	ck.Close()
	got, _ := Marshal(Build(&h, resumed))
	if !bytes.Equal(got, want) {
		t.Fatalf("resumed run differs from the uninterrupted one")
	}

	var parts []*Partial
	for i := 0; i < 2; i++ {
		sh := profile.Shard{Index: i, Count: 2}
		hs := h
		hs.Shard = sh
		p := filepath.Join(dir, "shard"+string(rune('0'+i))+".jsonl")
		ck, err := OpenCheckpoint(p, hs, false)
		if err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Shard, o.Checkpoint = sh, ck
		if _, err := Run(context.Background(), f.m, f.tok, f.probes, o); err != nil {
			t.Fatal(err)
		}
		if err := ck.Finish(); err != nil {
			t.Fatal(err)
		}
		part, err := ReadPartial(p)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, part)
	}
	if _, err := Merge(parts[:1]); err == nil || !strings.Contains(err.Error(), "in no shard file") {
		t.Fatalf("merging one of two shards: %v", err)
	}
	doc, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	merged, _ := Marshal(doc)
	if !bytes.Equal(merged, want) {
		t.Fatalf("merged shards differ from the single run")
	}
	// The other header of a journal is refused on resume.
	h2 := h
	h2.Settings.Budgets = []int{32}
	if _, err := OpenCheckpoint(parts[0].Path, h2, true); err == nil || !strings.Contains(err.Error(), "different methods, budgets") {
		t.Fatalf("resume with other budgets: %v", err)
	}
	// So is a checkpoint of another bf16 arithmetic revision.
	h3 := h
	h3.Tool.Arithmetic = "2026-12-02"
	if _, err := OpenCheckpoint(parts[0].Path, h3, true); err == nil || !strings.Contains(err.Error(), "different tool version or bf16 arithmetic revision") {
		t.Fatalf("resume with another bf16 arithmetic: %v", err)
	}
}
