package calibrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compresskv/compresskv/calibrate/selection"
	"github.com/compresskv/compresskv/model"
	"github.com/compresskv/compresskv/model/kernels"
	"github.com/compresskv/compresskv/model/modeltest"
	"github.com/compresskv/compresskv/profile/schema"
)

// tinyConfig is a 3-layer GQA Llama small enough to run in milliseconds.
const tinyConfig = `{"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 3,
 "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 48,
 "vocab_size": 64, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
 "bos_token_id": 1, "eos_token_id": 2}`

// tinyRanking is a head ranking of tinyModel's 3 layers of 4 heads (a new
// slice per call: a test may change its copy).
func tinyRanking() [][]int { return [][]int{{3, 0, 1, 2}, {1, 2, 0, 3}, {0, 3, 2, 1}} }

// tinyDatasets is the tests' usual testDatasets for m (seed 7, 8).
func tinyDatasets(m *model.Model) []Dataset {
	return testDatasets(rand.New(rand.NewPCG(7, 8)), m.Config().VocabSize)
}

func tinyModel(t testing.TB) (*model.Model, *model.Weights) {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(tinyConfig), "tiny config.json")
	if err != nil {
		t.Fatal(err)
	}
	w := model.RandomWeights(cfg, kernels.F32, 11)
	m, err := model.New(cfg, w, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m, w
}

// randomPrompt draws ids in 3..vocab-1 (no BOS / EOS) after a BOS.
func randomPrompt(rng *rand.Rand, n, vocab int) []int {
	ids := []int{1}
	for len(ids) < n {
		ids = append(ids, 3+rng.IntN(vocab-3))
	}
	return ids
}

func testOptions() Options {
	o := DefaultOptions()
	o.Budget = 16
	o.TopK = 2
	o.Selection = selection.Params{Window: 4, Kernel: 5, Pooling: selection.PoolAvg}
	o.Averages = []int{32, 48}
	return o
}

// TestPromptMatchesReference recomputes one prompt's layer errors in
// float64 from modeltest's independent forward pass: the CompressKV
// selection from its queries and keys, the cut attention over the kept
// positions plus the generated ones, o_proj, and the relative Frobenius
// error against its full output.
func TestPromptMatchesReference(t *testing.T) {
	m, w := tinyModel(t)
	cfg := m.Config()
	opts := testOptions()
	rng := rand.New(rand.NewPCG(5, 6))
	prompt := randomPrompt(rng, 60, cfg.VocabSize)
	ranking := tinyRanking()
	heads := Heads(ranking, opts.TopK)

	got, err := RunPrompt(t.Context(), m, prompt, 6, heads, opts)
	if err != nil {
		t.Fatal(err)
	}
	generated := modeltest.Greedy(t, modeltest.NewSession(t, m, model.SessionOptions{}), prompt, 6, func(id int) bool { return slices.Contains(cfg.EOS, id) })
	if got.Steps != len(generated)-1 {
		t.Fatalf("steps = %d, want %d (every generated token but the last is fed)", got.Steps, len(generated)-1)
	}
	seq := append(slices.Clone(prompt), generated[:len(generated)-1]...)
	tr := modeltest.NewReference(cfg, w).Run(seq)

	n, d, G, H, win := len(prompt), cfg.HeadDim, cfg.NumKVHeads, cfg.NumHeads, opts.Selection.Window
	r := H / G
	for l := 0; l < cfg.NumLayers; l++ {
		layer := selection.Layer{Tokens: n, Heads: H, KVHeads: G, HeadDim: d}
		for p := n - win; p < n; p++ {
			for _, v := range tr.Queries[l][p] {
				layer.Queries = append(layer.Queries, float32(v))
			}
		}
		for g := 0; g < G; g++ { // the reference's keys [position][kvHeads*headDim] as per-KV-head matrices
			m := kernels.Matrix{Rows: n, Cols: d, DType: kernels.F32}
			for p := 0; p < n; p++ {
				for _, v := range tr.Keys[l][p][g*d : (g+1)*d] {
					m.F32 = append(m.F32, float32(v))
				}
			}
			layer.Keys = append(layer.Keys, m)
		}
		kept, err := selection.CompressKV(layer, heads[l], opts.Budget, opts.Selection)
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		for p := n; p < len(seq); p++ {
			keep := slices.Clone(kept)
			for q := n; q <= p; q++ {
				keep = append(keep, q)
			}
			cut := make([]float64, H*d) // [heads*headDim]
			for h := 0; h < H; h++ {
				g := h / r
				q := tr.Queries[l][p][h*d : (h+1)*d]
				scores := make([]float64, len(keep))
				peak := math.Inf(-1)
				for i, j := range keep {
					for t := range q {
						scores[i] += q[t] * tr.Keys[l][j][g*d+t]
					}
					scores[i] /= math.Sqrt(float64(d))
					peak = max(peak, scores[i])
				}
				var sum float64
				for i := range scores {
					scores[i] = math.Exp(scores[i] - peak)
					sum += scores[i]
				}
				for i, j := range keep {
					for t := 0; t < d; t++ {
						cut[h*d+t] += scores[i] / sum * tr.Values[l][j][g*d+t]
					}
				}
			}
			full := tr.Projected[l][p]
			var diff, norm float64
			row := make([]float32, H*d)
			for o := range full {
				w.Layers[l].OProj.Row(row, o)
				var y float64
				for i, v := range cut {
					y += float64(row[i]) * v
				}
				diff += (y - full[o]) * (y - full[o])
				norm += full[o] * full[o]
			}
			want += math.Sqrt(diff) / (math.Sqrt(norm) + 1e-5)
		}
		if want <= 0 || math.Abs(got.Errors[l]-want) > 1e-4*want {
			t.Errorf("layer %d: error %v, float64 reference %v", l, got.Errors[l], want)
		}
	}
}

func testDatasets(rng *rand.Rand, vocab int) []Dataset {
	a := Dataset{Name: "alpha", MaxNew: 5}
	for i := 0; i < 3; i++ {
		a.Prompts = append(a.Prompts, randomPrompt(rng, 40+10*i, vocab))
	}
	b := Dataset{Name: "beta", MaxNew: 4}
	for i := 0; i < 2; i++ {
		b.Prompts = append(b.Prompts, randomPrompt(rng, 70, vocab))
	}
	// One prompt within the budget: it adds steps but no error.
	b.Prompts = append(b.Prompts, randomPrompt(rng, 12, vocab))
	return []Dataset{a, b}
}

func marshal(t *testing.T, c *schema.Calibration) []byte {
	t.Helper()
	p := &schema.Profile{Schema: schema.Version, Calibration: c}
	data, err := schema.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRunDeterministic(t *testing.T) {
	m, _ := tinyModel(t)
	ranking := tinyRanking()
	datasets := tinyDatasets(m)
	opts := testOptions()
	opts.Workers = 1
	var progress []int
	opts.Progress = func(done, total, _ int) { progress = append(progress, done*10+total) }
	c1, err := Run(context.Background(), m, datasets, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{6, 16, 26, 36, 46, 56, 66}; !slices.Equal(progress, want) {
		t.Errorf("progress calls %v, want %v", progress, want)
	}
	opts.Workers, opts.Progress = 2, nil
	c2, err := Run(context.Background(), m, datasets, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := marshal(t, c1), marshal(t, c2); !bytes.Equal(a, b) {
		t.Errorf("runs with 1 and 2 workers differ:\n%s\n%s", a, b)
	}

	if len(c1.Datasets) != 2 || c1.Datasets[0].Prompts != 3 || c1.Datasets[1].Prompts != 3 {
		t.Fatalf("datasets %+v", c1.Datasets)
	}
	// alpha: 3 prompts x 4 measured steps; beta: 3 x 3.
	if c1.Datasets[0].Steps != 12 || c1.Datasets[1].Steps != 9 {
		t.Errorf("steps %d, %d; want 12, 9 (unless EOS was generated)", c1.Datasets[0].Steps, c1.Datasets[1].Steps)
	}
	var total float64
	for l, s := range c1.LayerScores {
		total += s
		for _, d := range c1.Datasets {
			if e := d.LayerErrors[l]; !(e > 0) || math.IsInf(e, 0) {
				t.Errorf("dataset %s layer %d error %v: want finite and positive", d.Name, l, e)
			}
		}
	}
	if math.Abs(total-1) > 1e-12 {
		t.Errorf("layer scores sum to %v", total)
	}
	for _, avg := range opts.Averages {
		b := c1.Budgets[strconv.Itoa(avg)]
		s := 0
		for _, x := range b {
			s += x
		}
		if s != avg*3 {
			t.Errorf("budgets[%d] = %v sum to %d, want %d", avg, b, s, avg*3)
		}
	}
	p := rankedProfile(ranking, 4, 2, 8)
	p.Calibration = c1
	if err := schema.Validate(p); err != nil {
		t.Errorf("calibrated profile does not validate: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	m, _ := tinyModel(t)
	rng := rand.New(rand.NewPCG(9, 10))
	ranking := [][]int{{0}, {0}, {0}}
	short := []Dataset{{Name: "short", MaxNew: 4, Prompts: [][]int{randomPrompt(rng, 10, 64)}}}
	tests := []struct {
		name     string
		datasets []Dataset
		ranking  [][]int
		edit     func(*Options)
		want     string
	}{
		{"prompts within budget", short, ranking, nil, `"short"`},
		{"ranking layers", short, [][]int{{0}}, nil, "ranking has 1 layers"},
		{"head out of range", short, [][]int{{0}, {7}, {0}}, nil, "head 7"},
		{"no datasets", nil, ranking, nil, "no calibration datasets"},
		{"duplicate dataset", append(slices.Clone(short), short...), ranking, nil, "twice"},
		{"avg below floor", short, ranking, func(o *Options) { o.Averages = []int{16} }, "below the per-layer floor"},
		{"budget within window", short, ranking, func(o *Options) { o.Budget = 4 }, "more than the window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			if tt.edit != nil {
				tt.edit(&opts)
			}
			_, err := Run(context.Background(), m, tt.datasets, tt.ranking, opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// journalFixture is the tiny model with its test datasets, a ranking, the
// calibration an uninterrupted run gives, and a journal path and key.
type journalFixture struct {
	m        *model.Model
	ranking  [][]int
	datasets []Dataset
	opts     Options
	want     *schema.Calibration
	path     string
	key      RunKey
}

func newJournalFixture(t *testing.T) journalFixture {
	t.Helper()
	m, _ := tinyModel(t)
	f := journalFixture{m: m, ranking: tinyRanking(), opts: testOptions(),
		path: filepath.Join(t.TempDir(), "out.json.calibrate.jsonl")}
	f.datasets = tinyDatasets(m)
	var err error
	if f.want, err = Run(context.Background(), m, f.datasets, f.ranking, f.opts); err != nil {
		t.Fatal(err)
	}
	f.key = JournalKey(m.Fingerprint(), f.datasets, f.ranking, f.opts)
	return f
}

func TestJournalResume(t *testing.T) {
	fx := newJournalFixture(t)
	m, ranking, datasets, opts, want, path, key := fx.m, fx.ranking, fx.datasets, fx.opts, fx.want, fx.path, fx.key

	// A first run that only gets through dataset alpha, then a torn line.
	j, err := OpenJournal(path, key, true)
	if err != nil {
		t.Fatal(err)
	}
	opts.Journal = j
	if _, err := Run(context.Background(), m, datasets[:1], ranking, opts); err != nil {
		t.Fatal(err)
	}
	j.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"record": {"dataset": "beta", "prom`)
	f.Close()

	j, err = OpenJournal(path, key, true)
	if err != nil {
		t.Fatal(err)
	}
	var first []int
	opts.Journal = j
	opts.Progress = func(done, total, _ int) { first = append(first, done) }
	got, err := Run(context.Background(), m, datasets, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if first[0] != 3 {
		t.Errorf("resumed run started at %d done, want 3 (alpha journaled)", first[0])
	}
	if a, b := marshal(t, want), marshal(t, got); !bytes.Equal(a, b) {
		t.Errorf("resumed run differs from an uninterrupted one:\n%s\n%s", a, b)
	}

	// Another key refuses to resume, naming what differs; resume=false
	// starts over.
	other := opts
	other.TopK = 3
	otherKey := JournalKey(m.Fingerprint(), datasets, ranking, other)
	if _, err := OpenJournal(path, otherKey, true); err == nil || !strings.Contains(err.Error(), "checkpoint was written with --top-k 2, this run has --top-k 3; rerun with --resume=false") {
		t.Errorf("resume with another --top-k: error %v", err)
	}
	longer := slices.Clone(datasets)
	longer[1].MaxNew++
	if _, err := OpenJournal(path, JournalKey(m.Fingerprint()+" kv=bf16", datasets, ranking, opts), true); err == nil ||
		!strings.Contains(err.Error(), "checkpoint was written without --kv-dtype, this run has --kv-dtype bf16") {
		t.Errorf("resume with another kv dtype: error %v", err)
	}
	// A bf16 journal of an older arithmetic (written before the revision
	// was recorded) against one of this build.
	old := JournalKey(m.Fingerprint()+" kv=f32 chunk=512 rope=hf compute=bf16", datasets, ranking, opts)
	bf16Path := filepath.Join(t.TempDir(), "bf16.calibrate.jsonl")
	if jb, err := OpenJournal(bf16Path, old, false); err != nil {
		t.Fatal(err)
	} else {
		jb.Close()
	}
	now := JournalKey(ForwardKey(m.Fingerprint(), model.SessionOptions{CacheDType: model.CacheF32, Chunk: 512, Rope: model.RopeHF}, model.ComputeBF16), datasets, ranking, opts)
	if _, err := OpenJournal(bf16Path, now, true); err == nil ||
		!strings.Contains(err.Error(), "checkpoint was written without bf16 arithmetic revision, this run has bf16 arithmetic revision "+model.BF16Arithmetic) {
		t.Errorf("resume of a bf16 journal of another arithmetic: error %v", err)
	}
	if _, err := OpenJournal(path, JournalKey(m.Fingerprint(), longer, ranking, opts), true); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf("checkpoint was written with dataset beta --max-new %d, this run has dataset beta --max-new %d", datasets[1].MaxNew, longer[1].MaxNew)) {
		t.Errorf("resume with another --max-new: error %v", err)
	}
	j, err = OpenJournal(path, otherKey, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := j.done("alpha", 0); ok {
		t.Error("fresh journal still holds records")
	}
	if err := j.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("journal not removed: %v", err)
	}
}

// rankedProfile returns a valid uncalibrated profile whose SRH scores give
// the ranking ([layers][heads], a permutation per layer).
func rankedProfile(ranking [][]int, heads, kvHeads, headDim int) *schema.Profile {
	p := &schema.Profile{Schema: schema.Version,
		Model: schema.Model{Architecture: "llama", Layers: len(ranking), Heads: heads, KVHeads: kvHeads, HeadDim: headDim}}
	for _, r := range ranking {
		srh := make([]float64, heads)
		for i, h := range r {
			srh[h] = float64(heads - i)
		}
		p.Heads.SRH = append(p.Heads.SRH, srh)
		p.Heads.Retrieval = append(p.Heads.Retrieval, slices.Clone(srh))
		p.Heads.Ranking = append(p.Heads.Ranking, slices.Clone(r))
		p.Heads.RetrievalRanking = append(p.Heads.RetrievalRanking, slices.Clone(r))
	}
	return p
}

// TestFirstTokenNeverEOS: the reference generates with
// min_length = prompt length + 1, so transformers masks the end-of-sequence
// logits for the first new token. When the model's first argmax is an EOS
// id, the reference takes the best other token and keeps decoding; the
// error is then measured on every later step.
func TestFirstTokenNeverEOS(t *testing.T) {
	plain, w := tinyModel(t)
	opts := testOptions()
	rng := rand.New(rand.NewPCG(5, 6))
	prompt := randomPrompt(rng, 60, plain.Config().VocabSize)
	heads := Heads(tinyRanking(), opts.TopK)
	const maxNew = 6

	s := modeltest.NewSession(t, plain, model.SessionOptions{})
	if err := s.Prefill(t.Context(), prompt, nil); err != nil {
		t.Fatal(err)
	}
	logits := slices.Clone(s.Logits())
	eos := model.Argmax(logits)
	// The same weights with the first argmax as the only EOS id.
	cfg := plain.Config()
	cfg.EOS = []int{eos}
	m, err := model.New(&cfg, w, model.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := model.ArgmaxExcept(logits, cfg.EOS)
	rest := modeltest.Greedy(t, modeltest.NewSession(t, m, model.SessionOptions{}), append(slices.Clone(prompt), first), maxNew-1,
		func(id int) bool { return id == eos })
	want := len(rest) // fed after prefill: first, then every token of rest but its last

	got, err := RunPrompt(t.Context(), m, prompt, maxNew, heads, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Steps != want || want < 1 {
		t.Fatalf("steps = %d, want %d (first token %d instead of EOS %d, then %v)", got.Steps, want, first, eos, rest)
	}
}

// TestCancelDuringPrefill: a cancellation (Ctrl-C) after the first prompt
// is journaled stops the run inside the second prompt's prefill (Prefill
// checks the context before each of its 4-token chunks; model's
// TestPrefillCancel shows it stops there), Run returns context.Canceled,
// the journal keeps the finished prompt and not the interrupted one, and
// resuming gives the uninterrupted result.
func TestCancelDuringPrefill(t *testing.T) {
	m, _ := tinyModel(t)
	ranking := tinyRanking()
	rng := rand.New(rand.NewPCG(9, 10))
	datasets := []Dataset{{Name: "long", MaxNew: 4, Prompts: [][]int{randomPrompt(rng, 20, m.Config().VocabSize), randomPrompt(rng, 240, m.Config().VocabSize)}}}
	opts := testOptions()
	opts.Session.Chunk = 4
	opts.Workers = 1
	want, err := Run(t.Context(), m, datasets, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "out.json.calibrate.jsonl")
	key := JournalKey(m.Fingerprint(), datasets, ranking, opts)
	j, err := OpenJournal(path, key, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	opts.Journal = j
	opts.Progress = func(done, _, _ int) {
		if done == 1 {
			cancel() // the second prompt has not started its prefill yet
		}
	}
	if _, err := Run(ctx, m, datasets, ranking, opts); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v, want context.Canceled", err)
	}
	j.Close()

	j, err = OpenJournal(path, key, true)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, ok := j.done("long", 0); !ok {
		t.Error("the finished prompt is not in the journal")
	}
	if _, ok := j.done("long", 1); ok {
		t.Error("the interrupted prompt is in the journal")
	}
	opts.Journal, opts.Progress = j, nil
	got, err := Run(t.Context(), m, datasets, ranking, opts)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := marshal(t, want), marshal(t, got); !bytes.Equal(a, b) {
		t.Errorf("resumed run differs from an uninterrupted one:\n%s\n%s", a, b)
	}
}
